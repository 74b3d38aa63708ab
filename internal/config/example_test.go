package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const exampleFile = "../../docs/clew.example.yaml"

// TestExampleConfig loads docs/clew.example.yaml, the commented reference a
// user copies: it must load, show the real defaults, and name every key
// Config has, so it cannot drift from the code.
func TestExampleConfig(t *testing.T) {
	cfg, err := Load([]string{"--config", exampleFile}, env(nil))
	if err != nil {
		t.Fatalf("%s does not load: %v", exampleFile, err)
	}
	if len(cfg.Pipeline.TailSampling.Policies) == 0 {
		t.Error("the example shows no tail-sampling policies")
	}
	cfg.Pipeline.TailSampling.Policies = nil // examples; the default is none
	cfg.ConfigFile = ""
	want := Default()
	nilEmptySlices(reflect.ValueOf(&cfg).Elem())
	nilEmptySlices(reflect.ValueOf(&want).Elem())
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("the example's values are not the defaults:\n got %+v\nwant %+v", cfg, want)
	}

	raw, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	collectKeys(doc.Content[0], "", have)
	var missing []string
	for _, k := range configKeys(reflect.TypeOf(Config{}), "") {
		if !have[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("%s lacks %s: add each with its default and a comment", exampleFile, strings.Join(missing, ", "))
	}
}

// nilEmptySlices sets empty slices to nil ("allowed_keys: []" decodes to an
// empty slice; the default is nil, which means the same).
func nilEmptySlices(v reflect.Value) {
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				nilEmptySlices(v.Field(i))
			}
		}
	case reflect.Slice:
		if v.Len() == 0 && !v.IsNil() {
			v.Set(reflect.Zero(v.Type()))
		}
	}
}

// configKeys lists the YAML key paths of t's struct fields, descending into
// nested structs (not into list elements, whose shapes the example shows by
// example).
func configKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if tag == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") {
			out = append(out, configKeys(f.Type, prefix)...)
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		path := prefix + name
		out = append(out, path)
		if f.Type.Kind() == reflect.Struct && f.Type.NumField() > 0 && !implementsUnmarshaler(f.Type) {
			out = append(out, configKeys(f.Type, path+".")...)
		}
	}
	return out
}

func implementsUnmarshaler(t reflect.Type) bool {
	return reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem())
}

func collectKeys(n *yaml.Node, prefix string, have map[string]bool) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		path := prefix + n.Content[i].Value
		have[path] = true
		collectKeys(n.Content[i+1], path+".", have)
	}
}

// TestDocYAMLSnippetsLoad extracts every ```yaml block of the docs and the
// README and loads it as a Clew configuration file: a snippet a user pastes
// must work as written. (Tag YAML that is not a Clew configuration with
// another language, such as ```text.)
func TestDocYAMLSnippetsLoad(t *testing.T) {
	files, _ := filepath.Glob("../../docs/*.md")
	files = append(files, "../../README.md")
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```")
	n := 0
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllSubmatchIndex(raw, -1) {
			n++
			line := 1 + strings.Count(string(raw[:m[0]]), "\n")
			file := filepath.Join(t.TempDir(), "snippet.yaml")
			if err := os.WriteFile(file, raw[m[2]:m[3]], 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := Load([]string{"--config", file}, env(nil)); err != nil {
				t.Errorf("%s:%d: the YAML snippet does not load as a Clew config file: %v", f, line, err)
			}
		}
	}
	if n == 0 {
		t.Error("no YAML snippets found in the docs")
	}
}
