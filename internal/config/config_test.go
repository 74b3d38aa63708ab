package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaults(t *testing.T) {
	cfg, err := Load(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load with nothing = %+v, want defaults %+v", cfg, want)
	}
	if cfg.DataDir != "./clew-data" || cfg.OTLPGRPCAddr != ":4317" || cfg.OTLPHTTPAddr != ":4318" ||
		cfg.QueryAddr != ":16686" || cfg.AdminAddr != "127.0.0.1:14269" || time.Duration(cfg.Retention) != 7*24*time.Hour {
		t.Errorf("documented defaults changed: %+v", cfg)
	}
}

// Flags beat the environment, which beats the file, which beats defaults.
func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clew.yaml")
	yaml := "data_dir: /from/file\nretention: 2d\nquery_addr: ':1111'\nadmin_addr: ':2222'\ncors_allowed_origins: [http://file.example]\n" +
		"pipeline:\n  redaction:\n    emails: mask\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load([]string{"--config", file, "--query-addr", "127.0.0.1:3333"},
		env(map[string]string{"CLEW_QUERY_ADDR": ":9999", "CLEW_ADMIN_ADDR": ":4444", "CLEW_ZIPKIN_ADDR": ""}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"file only", cfg.DataDir, "/from/file"},
		{"file duration in days", time.Duration(cfg.Retention).String(), "48h0m0s"},
		{"flag beats env and file", cfg.QueryAddr, "127.0.0.1:3333"},
		{"env beats file", cfg.AdminAddr, ":4444"},
		{"empty env switches off", cfg.ZipkinAddr, ""},
		{"default kept", cfg.OTLPGRPCAddr, ":4317"},
		{"list from file", strings.Join(cfg.CORSAllowedOrigins, ","), "http://file.example"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.Pipeline.Redaction.Emails != "mask" || cfg.Pipeline.Limits != Default().Pipeline.Limits {
		t.Errorf("pipeline section: redaction %+v, limits %+v (want the file's emails and default limits)", cfg.Pipeline.Redaction, cfg.Pipeline.Limits)
	}
}

func TestConfigFileFromEnvAndFlagForms(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("data_dir: /x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--config=" + file}, {"-config", file}} {
		cfg, err := Load(args, env(nil))
		if err != nil || cfg.DataDir != "/x" {
			t.Errorf("%v: data dir %q, err %v", args, cfg.DataDir, err)
		}
	}
	cfg, err := Load(nil, env(map[string]string{"CLEW_CONFIG": file}))
	if err != nil || cfg.DataDir != "/x" {
		t.Errorf("CLEW_CONFIG: data dir %q, err %v", cfg.DataDir, err)
	}
}

func TestErrors(t *testing.T) {
	dir := t.TempDir()
	unknownKey := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(unknownKey, []byte("data_dri: /typo\n"), 0o644)
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown flag", []string{"--nope"}, nil, "nope"},
		{"bad duration", []string{"--retention", "soon"}, nil, "invalid duration"},
		{"bad env duration", nil, map[string]string{"CLEW_RETENTION": "x"}, "CLEW_RETENTION"},
		{"bad wal sync", []string{"--wal-sync", "sometimes"}, nil, "wal-sync"},
		{"zero retention", []string{"--retention", "0s"}, nil, "retention"},
		{"unknown yaml key", []string{"--config", unknownKey}, nil, "data_dri"},
		{"missing file", []string{"--config", filepath.Join(dir, "none.yaml")}, nil, "config file"},
		{"stray argument", []string{"extra"}, nil, "unexpected argument"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "log-level"},
	}
	for _, c := range cases {
		_, err := Load(c.args, env(c.env))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

// A typo at any depth is an error naming the key and its line; a top-level
// typo always was, one under pipeline: was silently ignored (issue 13).
func TestUnknownKeysAtEveryLevel(t *testing.T) {
	for _, c := range []struct{ name, yaml, want string }{
		{"top level", "data_dir: /x\ndata_dri: /typo\n", "line 2: field data_dri not found"},
		{"pipeline", "pipeline:\n  tail_samplng:\n    enabled: true\n", "line 2: field tail_samplng not found"},
		{"pipeline section", "pipeline:\n  tail_sampling:\n    enabeld: true\n", "line 3: field enabeld not found"},
		{"deep", "pipeline:\n  limits:\n    max_attrs_per_span: 10\n", "line 3: field max_attrs_per_span not found"},
	} {
		file := filepath.Join(t.TempDir(), "c.yaml")
		if err := os.WriteFile(file, []byte(c.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Load([]string{"--config", file}, env(nil))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), file) {
			t.Errorf("%s: err = %v, want the file name and %q", c.name, err, c.want)
		}
	}
}

func TestUsageListsInterfaceFlags(t *testing.T) {
	var b strings.Builder
	Usage(&b)
	for _, f := range []string{"data-dir", "otlp-grpc-addr", "otlp-http-addr", "query-addr", "admin-addr", "retention",
		"cors-allowed-origins", "config", "jaeger-http-addr", "jaeger-compact-addr", "jaeger-binary-addr", "zipkin-addr"} {
		if !strings.Contains(b.String(), "-"+f) {
			t.Errorf("usage lacks --%s", f)
		}
	}
}

// Tokens can come from the environment or a file, so they need not appear on
// a command line; a file and a value together are a mistake.
func TestTokensFromEnvAndFile(t *testing.T) {
	cfg, err := Load(nil, env(map[string]string{"CLEW_INGEST_TOKEN": "from-env", "CLEW_QUERY_TOKEN": "q-env"}))
	if err != nil || cfg.IngestToken != "from-env" || cfg.QueryToken != "q-env" {
		t.Fatalf("tokens from env: %q %q, %v", cfg.IngestToken, cfg.QueryToken, err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	if err := os.WriteFile(file, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = Load([]string{"--ingest-token-file", file}, env(map[string]string{"CLEW_QUERY_TOKEN_FILE": file}))
	if err != nil || cfg.IngestToken != "from-file" || cfg.QueryToken != "from-file" {
		t.Fatalf("tokens from file: %q %q, %v", cfg.IngestToken, cfg.QueryToken, err)
	}
	if _, err := Load([]string{"--ingest-token-file", file, "--ingest-token", "x"}, env(nil)); err == nil {
		t.Error("token and token file together: no error")
	}
	if _, err := Load([]string{"--query-token-file", filepath.Join(dir, "missing")}, env(nil)); err == nil {
		t.Error("missing token file: no error")
	}
	empty := filepath.Join(dir, "empty")
	_ = os.WriteFile(empty, []byte("\n"), 0o600)
	if _, err := Load([]string{"--query-token-file", empty}, env(nil)); err == nil {
		t.Error("empty token file: no error (it would silently switch the token off)")
	}
}

func TestStorage(t *testing.T) {
	cfg, err := Load([]string{"--storage", "s3", "--s3-bucket", "traces", "--s3-endpoint", "127.0.0.1:9000", "--s3-insecure", "--cache-dir", "/var/cache/clew"},
		env(map[string]string{"CLEW_S3_PREFIX": "clew/", "CLEW_S3_REGION": "eu-west-1"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Storage != "s3" || cfg.S3Bucket != "traces" || cfg.S3Endpoint != "127.0.0.1:9000" || !cfg.S3Insecure ||
		cfg.S3Prefix != "clew/" || cfg.S3Region != "eu-west-1" || cfg.CacheDir != "/var/cache/clew" || cfg.CacheMaxBytes != 10<<30 {
		t.Errorf("storage settings = %+v", cfg)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--storage", "s3"}, "s3-bucket"},
		{[]string{"--storage", "gcs"}, "storage must be local or s3"},
		{[]string{"--cache-max-bytes", "0"}, "cache-max-bytes"},
	} {
		if _, err := Load(tc.args, env(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%v) = %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}

// Several nodes on one bucket (docs/scale-out.md): the settings load from
// flags and environment, and nonsense is refused with the flag's name.
func TestScaleOutSettings(t *testing.T) {
	cfg, err := Load([]string{"--storage", "s3", "--s3-bucket", "traces", "--peers", "clew-0:16686,clew-1:16686",
		"--blocks-poll-interval", "5s", "--compactor-lease-ttl", "30s"},
		env(map[string]string{"CLEW_COMPACTOR": "never", "CLEW_BLOCKS_DELETE_DELAY": "2m"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Peers) != 2 || cfg.Peers[1] != "clew-1:16686" || time.Duration(cfg.BlocksPollInterval) != 5*time.Second ||
		time.Duration(cfg.BlocksDeleteDelay) != 2*time.Minute || cfg.Compactor != "never" ||
		time.Duration(cfg.CompactorLeaseTTL) != 30*time.Second {
		t.Errorf("scale-out settings = %+v", cfg)
	}
	s3 := []string{"--storage", "s3", "--s3-bucket", "b"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--peers", "a:1"}, "need storage s3"},
		{append(s3, "--blocks-poll-interval", "10m"), "blocks-poll-interval"},
		{append(s3, "--blocks-poll-interval", "1m", "--blocks-delete-delay", "1m"), "blocks-delete-delay"},
		{append(s3, "--compactor", "always"), "compactor must be lease or never"},
		{append(s3, "--compactor-lease-ttl", "100ms"), "compactor-lease-ttl"},
	} {
		if _, err := Load(tc.args, env(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%v) = %v, want an error mentioning %q", tc.args, err, tc.want)
		}
	}
}
