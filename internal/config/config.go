// Package config holds Clew's configuration: one struct, loaded from
// defaults, an optional YAML file (--config), CLEW_* environment variables and
// command-line flags, each overriding the one before.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/clewtrace/clew/internal/pipeline"
)

// Config is everything Clew can be told. YAML keys are the flag names with
// dashes turned into underscores; the pipeline section is YAML-only.
type Config struct {
	DataDir            string   `yaml:"data_dir"`
	OTLPGRPCAddr       string   `yaml:"otlp_grpc_addr"`
	OTLPHTTPAddr       string   `yaml:"otlp_http_addr"`
	QueryAddr          string   `yaml:"query_addr"`
	AdminAddr          string   `yaml:"admin_addr"`
	TempoAddr          string   `yaml:"tempo_addr"`
	JaegerHTTPAddr     string   `yaml:"jaeger_http_addr"`
	JaegerCompactAddr  string   `yaml:"jaeger_compact_addr"`
	JaegerBinaryAddr   string   `yaml:"jaeger_binary_addr"`
	ZipkinAddr         string   `yaml:"zipkin_addr"`
	Retention          Duration `yaml:"retention"`
	CORSAllowedOrigins []string `yaml:"cors_allowed_origins"`
	IngestToken        string   `yaml:"ingest_token"`
	QueryToken         string   `yaml:"query_token"`
	IngestTokenFile    string   `yaml:"ingest_token_file"`
	QueryTokenFile     string   `yaml:"query_token_file"`
	WALSync            string   `yaml:"wal_sync"`
	WALSyncInterval    Duration `yaml:"wal_sync_interval"`
	BlockMaxSpans      int      `yaml:"block_max_spans"`
	BlockMaxAge        Duration `yaml:"block_max_age"`
	MaxRequestBytes    int64    `yaml:"max_request_bytes"`
	LogLevel           string   `yaml:"log_level"`
	LogFormat          string   `yaml:"log_format"`

	// Storage is where trace blocks go: "local" (below DataDir) or "s3".
	// The WAL always stays in DataDir. S3 credentials are not settings:
	// they come from the standard AWS environment variables, the shared
	// credentials file or the instance role, so they never show in ps.
	Storage    string `yaml:"storage"`
	S3Bucket   string `yaml:"s3_bucket"`
	S3Endpoint string `yaml:"s3_endpoint"`
	S3Region   string `yaml:"s3_region"`
	S3Prefix   string `yaml:"s3_prefix"`
	S3Insecure bool   `yaml:"s3_insecure"`
	// CacheDir, if set, keeps a disk cache of block data read from the
	// bucket, bounded by CacheMaxBytes.
	CacheDir      string `yaml:"cache_dir"`
	CacheMaxBytes int64  `yaml:"cache_max_bytes"`

	// Several nodes, one bucket (docs/scale-out.md; storage s3 only).
	// Peers are host:port of the other nodes' query APIs (a name may
	// resolve to several nodes); BlocksPollInterval is how often the
	// bucket is listed for blocks other nodes wrote or removed; Compactor
	// is "lease" (compete for the compactor lease) or "never".
	Peers              []string `yaml:"peers"`
	BlocksPollInterval Duration `yaml:"blocks_poll_interval"`
	BlocksDeleteDelay  Duration `yaml:"blocks_delete_delay"`
	Compactor          string   `yaml:"compactor"`
	CompactorLeaseTTL  Duration `yaml:"compactor_lease_ttl"`

	// Pipeline configures the processing pipeline (YAML only). It is decoded
	// with the rest of the file, so a typo at any depth is an error with its
	// line number, not a silently ignored key.
	Pipeline pipeline.Config `yaml:"pipeline"`

	ConfigFile string `yaml:"-"`
}

// Default returns the configuration Clew runs with when told nothing.
func Default() Config {
	return Config{
		DataDir:            "./clew-data",
		OTLPGRPCAddr:       ":4317",
		OTLPHTTPAddr:       ":4318",
		QueryAddr:          ":16686",
		AdminAddr:          "127.0.0.1:14269", // loopback: see docs/security.md
		TempoAddr:          ":3200",
		JaegerHTTPAddr:     ":14268",
		JaegerCompactAddr:  ":6831",
		JaegerBinaryAddr:   ":6832",
		ZipkinAddr:         ":9411",
		Retention:          Duration(7 * 24 * time.Hour),
		CORSAllowedOrigins: []string{"http://localhost:*", "http://127.0.0.1:*"},
		WALSync:            "always",
		WALSyncInterval:    Duration(100 * time.Millisecond),
		BlockMaxSpans:      200_000,
		BlockMaxAge:        Duration(5 * time.Minute),
		MaxRequestBytes:    64 << 20,
		LogLevel:           "info",
		LogFormat:          "text",
		Pipeline:           pipeline.DefaultConfig(),
		Storage:            "local",
		CacheMaxBytes:      10 << 30,
		BlocksPollInterval: Duration(15 * time.Second),
		BlocksDeleteDelay:  Duration(5 * time.Minute),
		Compactor:          "lease",
		CompactorLeaseTTL:  Duration(time.Minute),
	}
}

// EnvPrefix starts every environment variable Clew reads: CLEW_DATA_DIR for
// --data-dir, and so on.
const EnvPrefix = "CLEW_"

// Load builds the configuration from args (without the program name and
// subcommand) and the environment, read through lookupEnv (os.LookupEnv): a
// variable set to the empty string counts, so CLEW_ZIPKIN_ADDR= switches the
// Zipkin receiver off.
func Load(args []string, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	fs := flag.NewFlagSet("clew serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	bind(fs, &cfg)

	// The file comes first in precedence order, so find it before parsing.
	cfg.ConfigFile = findConfigArg(args)
	if cfg.ConfigFile == "" {
		cfg.ConfigFile, _ = lookupEnv(EnvPrefix + "CONFIG")
	}
	if cfg.ConfigFile != "" {
		if err := loadFile(cfg.ConfigFile, &cfg); err != nil {
			return Config{}, err
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := EnvPrefix + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := lookupEnv(name); ok && f.Name != "config" {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = errors.Join(envErr, fmt.Errorf("%s: %w", name, err))
			}
		}
	})
	if envErr != nil {
		return Config{}, envErr
	}
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := readTokenFiles(&cfg); err != nil {
		return Config{}, err
	}
	return cfg, cfg.Validate()
}

// Usage writes the flag reference.
func Usage(w io.Writer) {
	cfg := Default()
	fs := flag.NewFlagSet("clew serve", flag.ContinueOnError)
	bind(fs, &cfg)
	fs.SetOutput(w)
	fmt.Fprintf(w, "Usage: clew [serve] [flags]\n\nEvery flag can also be set as %sNAME (e.g. %sDATA_DIR) or in the YAML file given by --config.\nPrecedence: flags > environment > file > defaults.\n\n", EnvPrefix, EnvPrefix)
	fs.PrintDefaults()
}

func bind(fs *flag.FlagSet, c *Config) {
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "optional YAML configuration file")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory for the write-ahead log and blocks")
	fs.StringVar(&c.OTLPGRPCAddr, "otlp-grpc-addr", c.OTLPGRPCAddr, "OTLP gRPC listen address (host:port; port 0 picks one; empty disables)")
	fs.StringVar(&c.OTLPHTTPAddr, "otlp-http-addr", c.OTLPHTTPAddr, "OTLP/HTTP listen address")
	fs.StringVar(&c.QueryAddr, "query-addr", c.QueryAddr, "query API and UI listen address")
	fs.StringVar(&c.TempoAddr, "tempo-addr", c.TempoAddr, "Grafana Tempo query API listen address (TraceQL search, traces, tags, TraceQL metrics; empty disables)")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "admin listen address (/metrics, /healthz, /readyz)")
	fs.StringVar(&c.JaegerHTTPAddr, "jaeger-http-addr", c.JaegerHTTPAddr, "Jaeger Thrift over HTTP listen address (empty disables)")
	fs.StringVar(&c.JaegerCompactAddr, "jaeger-compact-addr", c.JaegerCompactAddr, "Jaeger agent UDP compact-protocol address (empty disables)")
	fs.StringVar(&c.JaegerBinaryAddr, "jaeger-binary-addr", c.JaegerBinaryAddr, "Jaeger agent UDP binary-protocol address (empty disables)")
	fs.StringVar(&c.ZipkinAddr, "zipkin-addr", c.ZipkinAddr, "Zipkin v2 listen address (empty disables)")
	fs.Var(&c.Retention, "retention", "how long traces are kept (e.g. 168h or 7d)")
	fs.Var((*stringList)(&c.CORSAllowedOrigins), "cors-allowed-origins", "comma-separated origins allowed to send OTLP/HTTP from a browser (* in the port matches any port; * alone allows all)")
	fs.StringVar(&c.IngestToken, "ingest-token", c.IngestToken, "if set, receivers require Authorization: Bearer <token> (prefer CLEW_INGEST_TOKEN or --ingest-token-file: command lines are visible to other users)")
	fs.StringVar(&c.QueryToken, "query-token", c.QueryToken, "if set, the query API and the admin profiles require Authorization: Bearer <token> (prefer CLEW_QUERY_TOKEN or --query-token-file)")
	fs.StringVar(&c.IngestTokenFile, "ingest-token-file", c.IngestTokenFile, "read the ingest token from this file (surrounding whitespace ignored)")
	fs.StringVar(&c.QueryTokenFile, "query-token-file", c.QueryTokenFile, "read the query token from this file")
	fs.StringVar(&c.WALSync, "wal-sync", c.WALSync, "when the WAL is fsynced: always (before acknowledging, group commit), interval, never")
	fs.Var(&c.WALSyncInterval, "wal-sync-interval", "fsync period with --wal-sync=interval")
	fs.IntVar(&c.BlockMaxSpans, "block-max-spans", c.BlockMaxSpans, "cut the in-memory head into a block at this many spans")
	fs.Var(&c.BlockMaxAge, "block-max-age", "cut the in-memory head into a block at this age")
	fs.Int64Var(&c.MaxRequestBytes, "max-request-bytes", c.MaxRequestBytes, "largest accepted request body, after decompression")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.StringVar(&c.Storage, "storage", c.Storage, "where trace blocks are kept: local (in data-dir) or s3 (credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the instance role)")
	fs.StringVar(&c.S3Bucket, "s3-bucket", c.S3Bucket, "S3 bucket name (with --storage s3)")
	fs.StringVar(&c.S3Endpoint, "s3-endpoint", c.S3Endpoint, "S3 endpoint host[:port]; empty means AWS S3 in --s3-region")
	fs.StringVar(&c.S3Region, "s3-region", c.S3Region, "S3 region, e.g. us-east-1")
	fs.StringVar(&c.S3Prefix, "s3-prefix", c.S3Prefix, "object name prefix inside the bucket, e.g. clew/")
	fs.StringVar(&c.CacheDir, "cache-dir", c.CacheDir, "directory for a disk cache of block data read from the bucket (with --storage s3; empty: memory cache only)")
	fs.Int64Var(&c.CacheMaxBytes, "cache-max-bytes", c.CacheMaxBytes, "size bound of --cache-dir; least recently used data goes first")
	fs.BoolVar(&c.S3Insecure, "s3-insecure", c.S3Insecure, "talk plain HTTP to the S3 endpoint (a test server on loopback only)")
	fs.Var((*stringList)(&c.Peers), "peers", "comma-separated host:port of the other Clew nodes' query APIs sharing the bucket (a DNS name resolving to every node will do); queries include their not-yet-uploaded data")
	fs.Var(&c.BlocksPollInterval, "blocks-poll-interval", "with --storage s3: how often the bucket is listed for blocks other nodes wrote or removed (at most 5m)")
	fs.Var(&c.BlocksDeleteDelay, "blocks-delete-delay", "with --storage s3: how long compacted-away and expired blocks stay in the bucket after leaving every node's block list, for queries still reading them (at least 2x --blocks-poll-interval)")
	fs.StringVar(&c.Compactor, "compactor", c.Compactor, "with --storage s3: lease (compete for the compactor lease in the bucket; one node at a time compacts and applies retention) or never")
	fs.Var(&c.CompactorLeaseTTL, "compactor-lease-ttl", "with --storage s3: a compactor lease not renewed for this long passes to another node")
}

// readTokenFiles fills the tokens from their files, so a token need not
// appear on a command line (visible in ps and /proc) or in the environment.
func readTokenFiles(c *Config) error {
	for _, t := range []struct {
		name, file string
		token      *string
	}{{"ingest-token", c.IngestTokenFile, &c.IngestToken}, {"query-token", c.QueryTokenFile, &c.QueryToken}} {
		if t.file == "" {
			continue
		}
		if *t.token != "" {
			return fmt.Errorf("set either --%s or --%s-file, not both", t.name, t.name)
		}
		b, err := os.ReadFile(t.file)
		if err != nil {
			return fmt.Errorf("%s-file: %w", t.name, err)
		}
		if *t.token = strings.TrimSpace(string(b)); *t.token == "" {
			return fmt.Errorf("%s-file %s is empty", t.name, t.file)
		}
	}
	return nil
}

func findConfigArg(args []string) string {
	for i, a := range args {
		switch {
		case a == "--config" || a == "-config":
			if i+1 < len(args) {
				return args[i+1]
			}
		case strings.HasPrefix(a, "--config="):
			return strings.TrimPrefix(a, "--config=")
		case strings.HasPrefix(a, "-config="):
			return strings.TrimPrefix(a, "-config=")
		case a == "--":
			return ""
		}
	}
	return ""
}

func loadFile(path string, cfg *Config) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir must not be empty"))
	}
	switch c.WALSync {
	case "always", "interval", "never":
	default:
		errs = append(errs, fmt.Errorf("wal-sync must be always, interval or never, not %q", c.WALSync))
	}
	if c.Retention <= 0 {
		errs = append(errs, errors.New("retention must be positive"))
	}
	if c.MaxRequestBytes <= 0 {
		errs = append(errs, errors.New("max-request-bytes must be positive"))
	}
	switch c.Storage {
	case "local":
	case "s3":
		if c.S3Bucket == "" {
			errs = append(errs, errors.New("storage s3 needs s3-bucket"))
		}
	default:
		errs = append(errs, fmt.Errorf("storage must be local or s3, not %q", c.Storage))
	}
	if c.BlocksPollInterval <= 0 || time.Duration(c.BlocksPollInterval) > 5*time.Minute {
		errs = append(errs, errors.New("blocks-poll-interval must be between 0 and 5m"))
	}
	if c.BlocksDeleteDelay < 2*c.BlocksPollInterval {
		errs = append(errs, errors.New("blocks-delete-delay must be at least twice blocks-poll-interval"))
	}
	switch c.Compactor {
	case "lease", "never":
	default:
		errs = append(errs, fmt.Errorf("compactor must be lease or never, not %q", c.Compactor))
	}
	if c.CompactorLeaseTTL < Duration(time.Second) {
		errs = append(errs, errors.New("compactor-lease-ttl must be at least 1s"))
	}
	if len(c.Peers) > 0 && c.Storage != "s3" {
		errs = append(errs, errors.New("peers share a bucket: they need storage s3"))
	}
	if c.CacheMaxBytes <= 0 {
		errs = append(errs, errors.New("cache-max-bytes must be positive"))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level must be debug, info, warn or error, not %q", c.LogLevel))
	}
	if err := c.Pipeline.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pipeline: %w", err))
	}
	return errors.Join(errs...)
}

// Duration is a time.Duration that also accepts a whole number of days ("7d").
type Duration time.Duration

// Set parses s (flag.Value).
func (d *Duration) Set(s string) error {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n < 0 {
			return fmt.Errorf("invalid duration %q", s)
		}
		*d = Duration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q", s)
	}
	*d = Duration(v)
	return nil
}

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML accepts the same forms as Set.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error { return d.Set(n.Value) }

// stringList is a comma-separated flag.
type stringList []string

func (l *stringList) Set(s string) error {
	*l = nil
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			*l = append(*l, part)
		}
	}
	return nil
}

func (l *stringList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}
