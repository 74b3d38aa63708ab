package config

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const scaleOutDoc = "../../docs/scale-out.md"

// docBlock returns the first fenced code block below the heading.
func docBlock(t *testing.T, doc, heading string) string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "\n"+heading+"\n")
	if !ok {
		t.Fatalf("%s has no heading %q", scaleOutDoc, heading)
	}
	m := regexp.MustCompile("(?s)\n```[a-z]*\n(.*?)\n```").FindStringSubmatch(rest)
	if m == nil {
		t.Fatalf("no code block below %q", heading)
	}
	return m[1]
}

// loadNode loads a Clew command line from a doc example ("serve" and its
// flags) through Load, as the server would, with only the AWS variables
// in the environment.
func loadNode(t *testing.T, where string, argv []string) Config {
	t.Helper()
	if len(argv) == 0 || argv[0] != "serve" {
		t.Fatalf("%s: command %v does not start with serve", where, argv)
	}
	cfg, err := Load(argv[1:], env(map[string]string{"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}))
	if err != nil {
		t.Fatalf("%s: %v does not load: %v", where, argv, err)
	}
	if cfg.Storage != "s3" || cfg.S3Bucket != "clew" || len(cfg.Peers) == 0 || cfg.Compactor != "lease" {
		t.Errorf("%s: not a node of a shared bucket: storage %q bucket %q peers %v compactor %q", where, cfg.Storage, cfg.S3Bucket, cfg.Peers, cfg.Compactor)
	}
	return cfg
}

// TestScaleOutDocExamples reads docs/scale-out.md: the node configuration
// file and every Clew node's command line in the Compose and Kubernetes
// examples load through Clew's configuration code; the Collector routes
// spans by trace ID to exactly the Compose nodes. (The Collector, Compose
// and Kubernetes files are checked as YAML only: none of those tools runs
// here.)
func TestScaleOutDocExamples(t *testing.T) {
	raw, err := os.ReadFile(scaleOutDoc)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)

	file := filepath.Join(t.TempDir(), "clew.yaml")
	if err := os.WriteFile(file, []byte(docBlock(t, doc, "## Example: a node's configuration file")), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := loadNode(t, "node configuration file", []string{"serve", "--config", file})
	if len(fromFile.Peers) != 3 || fromFile.DataDir == "" || fromFile.CacheDir == "" {
		t.Errorf("node configuration file: %+v", fromFile)
	}

	var compose struct {
		Services map[string]struct {
			Command any `yaml:"command"` // a string or a list

			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal([]byte(docBlock(t, doc, "## Example: Compose-style deployment")), &compose); err != nil {
		t.Fatalf("Compose example: %v", err)
	}
	var nodes, otlpTargets []string
	volumes := map[string]bool{}
	for name, svc := range compose.Services {
		if !strings.HasPrefix(name, "clew-") {
			continue
		}
		nodes = append(nodes, name)
		list, _ := svc.Command.([]any)
		var argv []string
		for _, a := range list {
			argv = append(argv, a.(string))
		}
		cfg := loadNode(t, "Compose service "+name, argv)
		if !slices.Contains(cfg.Peers, name+":16686") {
			t.Errorf("Compose service %s is not in its own --peers %v (every node must list every node)", name, cfg.Peers)
		}
		if svc.Environment["AWS_ACCESS_KEY_ID"] == "" || svc.Environment["AWS_SECRET_ACCESS_KEY"] == "" {
			t.Errorf("Compose service %s gets no S3 credentials from the AWS variables", name)
		}
		if len(svc.Volumes) != 1 || volumes[svc.Volumes[0]] {
			t.Errorf("Compose service %s: volumes %v, want one of its own for the WAL", name, svc.Volumes)
		}
		volumes[svc.Volumes[0]] = true
		otlpTargets = append(otlpTargets, name+":4317")
	}
	if len(nodes) != 3 {
		t.Fatalf("Compose example has Clew nodes %v, want 3", nodes)
	}
	if _, ok := compose.Services["otel-collector"]; !ok {
		t.Error("Compose example has no otel-collector in front of the nodes")
	}

	var collector struct {
		Exporters struct {
			LoadBalancing struct {
				RoutingKey string `yaml:"routing_key"`
				Resolver   struct {
					Static struct {
						Hostnames []string `yaml:"hostnames"`
					} `yaml:"static"`
				} `yaml:"resolver"`
			} `yaml:"loadbalancing"`
		} `yaml:"exporters"`
		Service struct {
			Pipelines map[string]struct {
				Exporters []string `yaml:"exporters"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal([]byte(docBlock(t, doc, "## Example: OpenTelemetry Collector in front of three nodes")), &collector); err != nil {
		t.Fatalf("Collector example: %v", err)
	}
	lb := collector.Exporters.LoadBalancing
	if lb.RoutingKey != "traceID" {
		t.Errorf("Collector routing_key %q, want traceID", lb.RoutingKey)
	}
	slices.Sort(otlpTargets)
	hosts := slices.Sorted(slices.Values(lb.Resolver.Static.Hostnames))
	if !slices.Equal(hosts, otlpTargets) {
		t.Errorf("Collector sends to %v, want the Compose nodes' OTLP ports %v", hosts, otlpTargets)
	}
	if !slices.Contains(collector.Service.Pipelines["traces"].Exporters, "loadbalancing") {
		t.Errorf("the Collector's traces pipeline does not use the loadbalancing exporter: %+v", collector.Service.Pipelines)
	}

	dec := yaml.NewDecoder(strings.NewReader(docBlock(t, doc, "## Example: Kubernetes")))
	var kinds []string
	for {
		var obj struct {
			Kind string `yaml:"kind"`
			Spec struct {
				ServiceName string `yaml:"serviceName"`
				ClusterIP   string `yaml:"clusterIP"`
				Template    struct {
					Spec struct {
						Containers []struct {
							Args []string `yaml:"args"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("Kubernetes example: %v", err)
		}
		kinds = append(kinds, obj.Kind+"/"+obj.Metadata.Name)
		if obj.Kind == "StatefulSet" {
			cfg := loadNode(t, "Kubernetes StatefulSet", obj.Spec.Template.Spec.Containers[0].Args)
			if len(cfg.Peers) != 1 || !strings.HasPrefix(cfg.Peers[0], obj.Spec.ServiceName+":") {
				t.Errorf("StatefulSet peers %v, want its headless service %s", cfg.Peers, obj.Spec.ServiceName)
			}
			if strings.HasPrefix(cfg.AdminAddr, "127.") {
				t.Errorf("StatefulSet admin address %s: the kubelet's probes cannot reach loopback", cfg.AdminAddr)
			}
		}
		if obj.Metadata.Name == "clew-headless" && obj.Spec.ClusterIP != "None" {
			t.Errorf("clew-headless is not headless (clusterIP %q)", obj.Spec.ClusterIP)
		}
	}
	if !slices.Equal(kinds, []string{"Service/clew-headless", "Service/clew", "StatefulSet/clew"}) {
		t.Errorf("Kubernetes example objects %v", kinds)
	}
}
