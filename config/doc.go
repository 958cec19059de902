// Package config reads and checks leadline.yaml.
//
// It owns the configuration's shape (the structs mirror the YAML in SPEC.md, key for
// key), its defaults, the ${VAR} expansion and LEADLINE_* environment overrides, and
// every rule a configuration must meet. Load and Parse decode, apply defaults and call
// Validate; Validate collects every problem, each with its path in the file
// (dealers[0].flow[2]: unknown person "kess"), and fills the ready-to-use values:
// durations, *time.Location, phone.Target, the RTP port range, the store driver and
// the compiled whisper template. Summary prints what `leadline check` shows.
//
// config holds data; it starts nothing. cmd copies the values it needs into the
// constructors of other packages, so no other package imports config. config imports
// no leadline package but phone, weborigin and ssrf (which webhook targets are refused).
package config
