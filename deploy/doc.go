// Package deploy holds no Go code. Its directory holds the files that run Leadline with
// Prometheus and Grafana (prometheus/, grafana/, leadline.yaml, phones.yaml, used by
// ../docker-compose.yml), and its tests check them with the real tools: promtool for the
// Prometheus configuration and alert rules, docker-compose for the compose file.
// metrics/dashboard_test.go checks that the dashboard and the rules query only metrics
// that package metrics exposes.
package deploy
