package metrics_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.yaml.in/yaml/v3"

	"github.com/leadline/leadline/metrics"
)

// The files under ../deploy that query these metrics.
const (
	dashboardFile  = "../deploy/grafana/dashboards/leadline.json"
	datasourceFile = "../deploy/grafana/provisioning/datasources/prometheus.yml"
	alertsFile     = "../deploy/prometheus/alerts.yml"
)

// query is one PromQL expression and where it was found.
type query struct{ where, expr string }

// dashboard is the part of Grafana's dashboard JSON the tests read.
type dashboard struct {
	UID        string  `json:"uid"`
	Title      string  `json:"title"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Datasource *datasourceRef  `json:"datasource"`
			Query      json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID         int                      `json:"id"`
	Type       string                   `json:"type"`
	Title      string                   `json:"title"`
	Datasource *datasourceRef           `json:"datasource"`
	GridPos    struct{ X, Y, W, H int } `json:"gridPos"`
	Panels     []panel                  `json:"panels"` // a collapsed row's
	Targets    []struct {
		RefID      string         `json:"refId"`
		Expr       string         `json:"expr"`
		Datasource *datasourceRef `json:"datasource"`
	} `json:"targets"`
}

type datasourceRef struct{ Type, UID string }

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// allPanels flattens rows.
func allPanels(ps []panel) []panel {
	var out []panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, allPanels(p.Panels)...)
	}
	return out
}

// grafanaVars replaces the dashboard's variables with values Prometheus accepts.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "5m", "$__range", "6h", "$window", "1h", "$dealer", ".*",
)

func dashboardQueries(t *testing.T) []query {
	t.Helper()
	d := readDashboard(t)
	var qs []query
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, query{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), tg.Expr})
		}
	}
	return qs
}

func alertQueries(t *testing.T) []query {
	t.Helper()
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var qs []query
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			qs = append(qs, query{"alert " + r.Alert + r.Record, r.Expr})
		}
	}
	if len(qs) == 0 {
		t.Fatalf("%s: no rules", alertsFile)
	}
	return qs
}

// series describes what one name exposes after exerciseAll: its label names and, per
// label, the values seen.
type series map[string]map[string]bool

// exposed exercises every method once and returns every series name the registry then
// exposes, histograms as their _bucket (with le), _sum and _count series.
func exposed(t *testing.T) map[string]series {
	t.Helper()
	reg := prometheus.NewRegistry()
	exerciseAll(metrics.New(reg))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]series{}
	add := func(name string, m *dto.Metric, extra ...string) {
		s := out[name]
		if s == nil {
			s = series{}
			out[name] = s
		}
		for _, l := range m.GetLabel() {
			if s[l.GetName()] == nil {
				s[l.GetName()] = map[string]bool{}
			}
			s[l.GetName()][l.GetValue()] = true
		}
		for _, e := range extra {
			s[e] = map[string]bool{}
		}
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if mf.GetType() == dto.MetricType_HISTOGRAM {
				add(mf.GetName()+"_bucket", m, "le")
				add(mf.GetName()+"_sum", m)
				add(mf.GetName()+"_count", m)
				continue
			}
			add(mf.GetName(), m)
		}
	}
	return out
}

var (
	// Prometheus' own series the rules and dashboard may use, with their labels.
	synthetic = map[string][]string{
		"up":     {"job", "instance"},
		"ALERTS": {"alertname", "alertstate", "severity", "dealer", "job", "instance"},
	}
	targetLabels = []string{"job", "instance"} // added by the scrape

	reString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	reSelector = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	reMatcher  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	reGrouping = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	reRange    = regexp.MustCompile(`\[[^\]]*\]`)
	reIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	reWords    = regexp.MustCompile(`^[a-z_]+(\|[a-z_]+)*$`)
	keywords   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames returns the series names expr selects: identifiers that are not
// functions, aggregations, keywords, label names or inside strings.
func metricNames(expr string) []string {
	e := reGrouping.ReplaceAllString(expr, " ")
	e = reSelector.ReplaceAllString(e, "$1")
	e = reString.ReplaceAllString(e, `""`)
	e = reRange.ReplaceAllString(e, "")
	var names []string
	for _, m := range reIdent.FindAllStringIndex(e, -1) {
		name := e[m[0]:m[1]]
		if m[0] > 0 && strings.ContainsAny(e[m[0]-1:m[0]], "0123456789.") {
			continue // the unit of a duration or number: 5m, 1e3
		}
		if strings.HasPrefix(strings.TrimSpace(e[m[1]:]), "(") || keywords[strings.ToLower(name)] {
			continue // a function or aggregation call, or a keyword
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// TestQueriesUseExposedMetrics checks that every PromQL expression of the dashboard and
// the alert rules selects only series that Metrics exposes (or Prometheus' up and
// ALERTS), with label names those series have, label values they can take, and grouping
// labels that exist.
func TestQueriesUseExposedMetrics(t *testing.T) {
	have := exposed(t)
	for name, labels := range synthetic {
		s := series{}
		for _, l := range labels {
			s[l] = nil // any value
		}
		have[name] = s
	}
	d := readDashboard(t)
	qs := append(dashboardQueries(t), alertQueries(t)...)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: query %s: %v", v.Name, v.Query, err)
			continue
		}
		m := regexp.MustCompile(`^label_values\((\w+),\s*(\w+)\)$`).FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: query %q is not label_values(metric, label)", v.Name, q.Query)
			continue
		}
		qs = append(qs, query{"variable " + v.Name, fmt.Sprintf("count by (%s) (%s)", m[2], m[1])})
	}

	for _, q := range qs {
		expr := grafanaVars.Replace(q.expr)
		names := metricNames(expr)
		if len(names) == 0 {
			t.Errorf("%s: selects no metric: %s", q.where, q.expr)
		}
		known := map[string]bool{}
		for _, l := range targetLabels {
			known[l] = true
		}
		for _, n := range names {
			s, ok := have[n]
			if !ok {
				t.Errorf("%s: %s is not exposed by metrics.New after exercising every method", q.where, n)
				continue
			}
			for l := range s {
				known[l] = true
			}
		}
		for _, m := range reSelector.FindAllStringSubmatch(expr, -1) {
			s, ok := have[m[1]]
			if !ok {
				continue // reported above
			}
			for _, mm := range reMatcher.FindAllStringSubmatch(m[2], -1) {
				label, op, value := mm[1], mm[2], mm[3]
				values, ok := s[label]
				if !ok && !slices.Contains(targetLabels, label) {
					t.Errorf("%s: %s has no label %q", q.where, m[1], label)
					continue
				}
				if values == nil || strings.Contains(q.expr, "$"+label) {
					continue // any value, or the dashboard's variable
				}
				var want []string
				switch {
				case op == "=" || op == "!=":
					want = []string{value}
				case reWords.MatchString(value):
					want = strings.Split(value, "|")
				}
				for _, w := range want {
					if !values[w] {
						t.Errorf("%s: %s{%s} never has the value %q (seen %v)", q.where, m[1], label, w, slices.Sorted(maps.Keys(values)))
					}
				}
			}
		}
		for _, m := range reGrouping.FindAllStringSubmatch(expr, -1) {
			for l := range strings.SplitSeq(m[2], ",") {
				if l = strings.TrimSpace(l); l != "" && !known[l] {
					t.Errorf("%s: %s (%s): no selected series has label %q", q.where, m[1], m[2], l)
				}
			}
		}
	}
}

func TestMetricNames(t *testing.T) {
	tests := []struct{ expr, want string }{
		{`up{job="leadline"} == 0`, "up"},
		{`histogram_quantile(0.9, sum by (dealer, le) (rate(a_bucket{dealer=~"x|y"}[1h]))) > 60 and on (dealer) sum by (dealer) (increase(a_count[1h])) >= 3`, "a_bucket a_count"},
		{`sum(rate(b{code=~"5..|6..",code!~"600"}[10m])) / sum(rate(b[10m]))`, "b"},
		{`hour() >= 11 and on () (day_of_week() <= 5) unless c offset 5m`, "c"},
		{`x + on (dealer) group_right () (0 * y)`, "x y"},
	}
	for _, tt := range tests {
		if got := strings.Join(metricNames(tt.expr), " "); got != tt.want {
			t.Errorf("metricNames(%s) = %q, want %q", tt.expr, got, tt.want)
		}
	}
}

// TestDashboard checks the dashboard JSON's structure: unique stable panel ids, every
// query on the provisioned data source by uid, the dealer variable used by every panel
// that shows per-dealer metrics.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q, title %q: both needed for a stable URL", d.UID, d.Title)
	}
	data, err := os.ReadFile(datasourceFile)
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct{ Name, UID, Type string }
	}
	if err := yaml.Unmarshal(data, &ds); err != nil || len(ds.Datasources) != 1 {
		t.Fatalf("%s: %v, %d data sources", datasourceFile, err, len(ds.Datasources))
	}
	uid := ds.Datasources[0].UID
	checkDS := func(where string, r *datasourceRef) {
		if r == nil || r.UID != uid || r.Type != "prometheus" {
			t.Errorf("%s: data source %+v, want uid %q type prometheus", where, r, uid)
		}
	}

	ids := map[int]string{}
	queries := 0
	for _, p := range allPanels(d.Panels) {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 {
			t.Errorf("%s: no id", where)
		} else if other, dup := ids[p.ID]; dup {
			t.Errorf("%s: id also used by %q", where, other)
		}
		ids[p.ID] = p.Title
		if p.Title == "" {
			t.Errorf("%s: no title", where)
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24 columns", where, g)
		}
		if p.Type == "row" {
			continue
		}
		checkDS(where, p.Datasource)
		if len(p.Targets) == 0 {
			t.Errorf("%s: no query", where)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			queries++
			checkDS(where+" target "+tg.RefID, tg.Datasource)
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("%s: refId %q empty or repeated", where, tg.RefID)
			}
			refs[tg.RefID] = true
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s target %s: empty expr", where, tg.RefID)
			}
		}
	}
	if queries == 0 {
		t.Fatal("dashboard has no queries")
	}

	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type == "query" {
			checkDS("variable "+v.Name, v.Datasource)
		}
	}
	if !vars["dealer"] {
		t.Error("no dealer variable")
	}
	// Every selector of a per-dealer metric follows the dealer variable.
	have := exposed(t)
	for _, q := range dashboardQueries(t) {
		for _, n := range metricNames(grafanaVars.Replace(q.expr)) {
			if _, perDealer := have[n]["dealer"]; perDealer && !strings.Contains(q.expr, n+`{dealer=~"$dealer"`) {
				t.Errorf("%s: %s is not filtered by the dealer variable", q.where, n)
			}
		}
		for _, v := range regexp.MustCompile(`\$(\w+)`).FindAllStringSubmatch(q.expr, -1) {
			if !vars[v[1]] && !strings.HasPrefix(v[1], "__") {
				t.Errorf("%s: uses undefined variable $%s", q.where, v[1])
			}
		}
	}
}

// TestDashboardPromQL has promtool parse every dashboard query, as recording rules.
func TestDashboardPromQL(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian package prometheus; scripts/deps.sh installs it)")
	}
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	for i, q := range dashboardQueries(t) {
		rules = append(rules, rule{fmt.Sprintf("dashboard:query_%d", i), grafanaVars.Replace(q.expr)})
	}
	file := map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}}
	data, err := json.Marshal(file) // JSON is YAML
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the dashboard's queries: %v\n%s", err, out)
	}
}
