package api

import (
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"go.yaml.in/yaml/v3"

	"github.com/leadline/leadline/dialer"
	"github.com/leadline/leadline/leadview"
)

// TestDocsMatchRoutes checks that api/openapi.yaml and docs/api.md describe exactly the
// routes routes.go serves, and that docs/api.md documents every problem type.
func TestDocsMatchRoutes(t *testing.T) {
	s := &server{}
	var routes []string
	err := chi.Walk(s.routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes = append(routes, strings.ToLower(method)+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(routes)
	if len(routes) < 7 {
		t.Fatalf("walked only %q", routes)
	}

	spec, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var inSpec []string
	var path string
	pathRe, methodRe := regexp.MustCompile(`^  (/\S*):$`), regexp.MustCompile(`^    (get|post|put|patch|delete|options):$`)
	for line := range strings.Lines(string(spec)) {
		line = strings.TrimRight(line, "\n")
		if m := pathRe.FindStringSubmatch(line); m != nil {
			path = m[1]
		} else if m := methodRe.FindStringSubmatch(line); m != nil && path != "" {
			inSpec = append(inSpec, m[1]+" "+path)
		} else if line != "" && !strings.HasPrefix(line, " ") {
			path = ""
		}
	}
	slices.Sort(inSpec)
	if !slices.Equal(routes, inSpec) {
		t.Errorf("openapi.yaml operations\n %q\nrouter\n %q", inSpec, routes)
	}

	docs, err := os.ReadFile("../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		method, route, _ := strings.Cut(r, " ")
		if !strings.Contains(string(docs), strings.ToUpper(method)+" "+route) {
			t.Errorf("docs/api.md does not mention %s %s", strings.ToUpper(method), route)
		}
	}

	var kinds []string
	kindRe := regexp.MustCompile(`(?:kind:\s+|problemTypes\+)"([a-z-]+)"`)
	sources, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range sources {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range kindRe.FindAllStringSubmatch(string(src), -1) {
			kinds = append(kinds, m[1])
		}
	}
	headings := regexp.MustCompile(`(?m)^### ([a-z-]+)$`).FindAllStringSubmatch(string(docs), -1)
	var documented []string
	for _, h := range headings {
		documented = append(documented, h[1])
	}
	slices.Sort(kinds)
	kinds = slices.Compact(kinds)
	if len(kinds) < 10 {
		t.Fatalf("found only problem types %q", kinds)
	}
	slices.Sort(documented)
	if !slices.Equal(kinds, documented) {
		t.Errorf("problem types in code %q, documented in docs/api.md %q", kinds, documented)
	}
}

// TestFormExample checks that docs/form-example.html names only fields a form post may
// send, and has the honeypot.
func TestFormExample(t *testing.T) {
	page, err := os.ReadFile("../docs/form-example.html")
	if err != nil {
		t.Fatal(err)
	}
	form := string(page)
	if i, j := strings.Index(form, "<form"), strings.Index(form, "</form>"); i >= 0 && j > i {
		form = form[i:j]
	}
	names := regexp.MustCompile(`\sname="([^"]*)"`).FindAllStringSubmatch(form, -1)
	if len(names) < 5 {
		t.Fatalf("found only %d named fields", len(names))
	}
	var got []string
	for _, m := range names {
		got = append(got, m[1])
		if !isBodyField(m[1]) {
			t.Errorf("the example form has a field %q that Leadline refuses", m[1])
		}
	}
	for _, want := range []string{fieldFormKey, fieldHoneypot, fieldRedirect, "phone"} {
		if !slices.Contains(got, want) {
			t.Errorf("the example form has no %q field", want)
		}
	}
}

// TestSchemasMatchJSON checks that each JSON answer's Go type and its schema in
// api/openapi.yaml name the same members, and that the schema requires exactly those
// that are always present (no omitempty or omitzero).
func TestSchemasMatchJSON(t *testing.T) {
	b, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Components struct {
			Schemas map[string]struct {
				Required   []string       `yaml:"required"`
				Properties map[string]any `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{
		"Lead": leadview.Lead{}, "Duplicate": leadview.Duplicate{}, "Attempt": leadview.Attempt{}, "LeadList": leadList{},
		"FormReceipt": formReceipt{}, "Outcome": leadview.Outcome{}, "Rejection": rejectionJSON{}, "RejectionList": rejectionList{},
		"HookAnswer": hookAnswer{}, "Problem": problem{}, "FieldError": dialer.FieldError{},
		"PeopleReport": peopleReport{}, "SourcesReport": sourcesReport{}, "PersonReport": personJSON{},
		"SourceReport": sourceJSON{},
		"Delivery":     deliveryJSON{}, "DeliveryList": deliveryList{},
	} {
		schema, ok := spec.Components.Schemas[name]
		if !ok {
			t.Errorf("openapi.yaml has no schema %s", name)
			continue
		}
		var members, always []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			tag := rt.Field(i).Tag.Get("json")
			member, opts, _ := strings.Cut(tag, ",")
			if member == "" || member == "-" {
				continue
			}
			members = append(members, member)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				always = append(always, member)
			}
		}
		props := slices.Sorted(maps.Keys(schema.Properties))
		slices.Sort(members)
		if !slices.Equal(props, members) {
			t.Errorf("%s: schema properties %q, %T has %q", name, props, v, members)
		}
		required := slices.Sorted(slices.Values(schema.Required))
		slices.Sort(always)
		if !slices.Equal(required, always) {
			t.Errorf("%s: schema requires %q, %T always has %q", name, required, v, always)
		}
	}
}
