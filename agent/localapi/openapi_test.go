package localapi

import (
	"os"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestOpenAPIMatchesRoutes: docs/local-api.openapi.yaml is valid YAML and documents
// exactly the routes the server serves, each with its path parameters and its scopes
// (x-scopes), and every
// documented error answer uses the shared Error response.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	raw, err := os.ReadFile("../../docs/local-api.openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type param struct {
		Name string `yaml:"name"`
		In   string `yaml:"in"`
	}
	var doc struct {
		OpenAPI string `yaml:"openapi"`
		Paths   map[string]map[string]struct {
			Parameters []param `yaml:"parameters"`
			Scopes     []Scope `yaml:"x-scopes"`
			Responses  map[string]struct {
				Ref string `yaml:"$ref"`
			} `yaml:"responses"`
		} `yaml:"paths"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("docs/local-api.openapi.yaml is not valid YAML: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			route := strings.ToUpper(method) + " " + path
			documented = append(documented, route)
			if rt, ok := (&Server{}).routes()[route]; ok && !slices.Equal(op.Scopes, rt.scopes) {
				t.Errorf("%s: x-scopes %v, served with scopes %v", route, op.Scopes, rt.scopes)
			}
			for _, seg := range strings.Split(path, "/") {
				if name, ok := strings.CutPrefix(seg, "{"); ok {
					name = strings.TrimSuffix(name, "}")
					if !slices.Contains(op.Parameters, param{name, "path"}) {
						t.Errorf("%s: path parameter %s not documented", route, name)
					}
				}
			}
			for code, r := range op.Responses {
				if code >= "400" && r.Ref != "#/components/responses/Error" {
					t.Errorf("%s: %s does not use the Error response", route, code)
				}
			}
		}
	}
	s := &Server{}
	var served []string
	for r := range s.routes() {
		served = append(served, r)
	}
	slices.Sort(documented)
	slices.Sort(served)
	if !slices.Equal(documented, served) {
		t.Fatalf("documented routes %q\nserved routes     %q", documented, served)
	}
}
