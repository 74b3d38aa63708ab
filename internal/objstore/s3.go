package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Options configures an S3-compatible bucket. Credentials never come
// from here: they are found the way the AWS tools find them (the
// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN environment
// variables, then the shared credentials file with AWS_PROFILE, then the
// instance or pod role), so a secret never sits on a command line.
type S3Options struct {
	Bucket   string // bucket name (required)
	Endpoint string // host[:port]; empty means AWS S3 in Region
	Region   string // e.g. us-east-1; empty lets the client discover it
	Prefix   string // every object name is put below this, e.g. "clew/"
	Insecure bool   // plain HTTP, for a test server on loopback
	// PartSize is the multipart upload part size; objects larger than this
	// go up in parts. [16 MiB; S3 requires at least 5 MiB]
	PartSize uint64
	// Transport overrides the HTTP transport (tests use it to inject faults).
	Transport http.RoundTripper
	// MaxRetries bounds the client's own retries of a failed request
	// [minio-go's default, 10]; tests of failure handling lower it.
	MaxRetries int
}

// S3 is a Bucket in an S3-compatible object store, through minio-go (which
// signs requests, retries transient failures and uploads in parts).
type S3 struct {
	core     *minio.Core
	bucket   string
	prefix   string
	partSize uint64
}

var _ Bucket = (*S3)(nil)

// NewS3 connects to the bucket and checks that it exists, so a wrong name
// or endpoint fails at startup rather than at the first block upload.
func NewS3(ctx context.Context, o S3Options) (*S3, error) {
	if o.Bucket == "" {
		return nil, errors.New("objstore: s3: no bucket name")
	}
	if o.Prefix != "" {
		o.Prefix = strings.Trim(o.Prefix, "/") + "/"
		if !ValidName(strings.TrimSuffix(o.Prefix, "/")) {
			return nil, fmt.Errorf("objstore: s3: invalid prefix %q", o.Prefix)
		}
	}
	endpoint := o.Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
		if o.Region != "" {
			endpoint = "s3." + o.Region + ".amazonaws.com"
		}
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
		&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport}},
	})
	opts := &minio.Options{
		Creds:      creds,
		Secure:     !o.Insecure,
		Region:     o.Region,
		Transport:  o.Transport,
		MaxRetries: o.MaxRetries,
	}
	core, err := minio.NewCore(endpoint, opts)
	if err != nil {
		return nil, fmt.Errorf("objstore: s3: %w", err)
	}
	if o.PartSize == 0 {
		o.PartSize = 16 << 20
	}
	s := &S3{core: core, bucket: o.Bucket, prefix: o.Prefix, partSize: o.PartSize}
	ok, err := core.BucketExists(ctx, o.Bucket)
	if err != nil {
		return nil, fmt.Errorf("objstore: s3: bucket %s at %s: %w", o.Bucket, endpoint, err)
	}
	if !ok {
		return nil, fmt.Errorf("objstore: s3: bucket %s at %s does not exist", o.Bucket, endpoint)
	}
	return s, nil
}

func (s *S3) key(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", err
	}
	return s.prefix + name, nil
}

// s3Err makes a missing key match ErrNotExist.
func s3Err(op, name string, err error) error {
	resp := minio.ToErrorResponse(err)
	if resp.Code == "NoSuchKey" || resp.StatusCode == http.StatusNotFound {
		return fmt.Errorf("%s %s: %w", op, name, ErrNotExist)
	}
	return fmt.Errorf("%s %s: %w", op, name, err)
}

// lengther is implemented by bytes.Reader, bytes.Buffer and strings.Reader:
// with the length known, the client sends one PUT or ranged parts without
// buffering a part of its own.
type lengther interface{ Len() int }

// Put uploads r. S3 makes a PUT (and a completed multipart upload) visible
// atomically; a failed multipart upload is aborted by the client.
func (s *S3) Put(ctx context.Context, name string, r io.Reader) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	size := int64(-1)
	if l, ok := r.(lengther); ok {
		size = int64(l.Len())
	}
	_, err = s.core.Client.PutObject(ctx, s.bucket, key, ctxReader{ctx, r}, size, minio.PutObjectOptions{
		PartSize:    s.partSize,
		ContentType: "application/octet-stream",
	})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("put %s: %w", name, ctx.Err())
		}
		return fmt.Errorf("put %s: %w", name, err)
	}
	return nil
}

// Get reads the whole object with one GET.
func (s *S3) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	rc, _, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s3Err("get", name, err)
	}
	return rc, nil
}

// Open learns the object's size with a HEAD request.
func (s *S3) Open(ctx context.Context, name string) (Reader, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, err
	}
	info, err := s.core.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return nil, s3Err("open", name, err)
	}
	return &s3Reader{s: s, key: key, name: name, size: info.Size, etag: info.ETag}, nil
}

type s3Reader struct {
	s         *S3
	key, name string
	size      int64
	etag      string
}

func (r *s3Reader) Size() int64  { return r.size }
func (r *s3Reader) Close() error { return nil }

// ReadAt is one ranged GET. It pins the ETag seen at Open, so an object
// replaced in between is an error rather than a mix of two versions.
func (r *s3Reader) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	p, eof := clip(p, off, r.size)
	if len(p) == 0 {
		if eof == io.EOF {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
		}
		return 0, eof
	}
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(off, off+int64(len(p))-1); err != nil {
		return 0, err
	}
	if r.etag != "" {
		if err := opts.SetMatchETag(r.etag); err != nil {
			return 0, err
		}
	}
	rc, _, _, err := r.s.core.GetObject(ctx, r.s.bucket, r.key, opts)
	if err != nil {
		return 0, s3Err("read", r.name, err)
	}
	defer rc.Close()
	n, err := io.ReadFull(rc, p)
	if err != nil {
		return n, fmt.Errorf("read %s at %d: %w", r.name, off, err)
	}
	return n, eof
}

// List pages through ListObjectsV2; S3 returns keys in lexical (UTF-8
// binary) order, as the interface requires.
func (s *S3) List(ctx context.Context, prefix string, fn func(name string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when fn stops early
	for obj := range s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{
		Prefix:    s.prefix + prefix,
		Recursive: true,
	}) {
		if obj.Err != nil {
			return fmt.Errorf("list %q: %w", prefix, obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, s.prefix)
		if !ValidName(name) {
			continue // not ours (e.g. a "directory" marker someone else made)
		}
		if err := fn(name); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete removes the key; S3 answers 204 for a missing key as well.
func (s *S3) Delete(ctx context.Context, name string) error {
	key, err := s.key(name)
	if err != nil {
		return err
	}
	if err := s.core.Client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil
		}
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

var _ Conditional = (*S3)(nil)

// GetVersion reads the object with one GET; its version is the ETag.
func (s *S3) GetVersion(ctx context.Context, name string) ([]byte, string, error) {
	key, err := s.key(name)
	if err != nil {
		return nil, "", err
	}
	rc, info, _, err := s.core.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, "", s3Err("get", name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, "", fmt.Errorf("get %s: %w", name, err)
	}
	return data, info.ETag, nil
}

// PutIfVersion is a conditional PUT: If-Match: <etag>, or If-None-Match: *
// for an object that must not exist yet. S3 answers 412 Precondition
// Failed when the condition does not hold (and 409 when a concurrent
// conditional write to the same key won the race).
func (s *S3) PutIfVersion(ctx context.Context, name string, data []byte, version string) (string, error) {
	key, err := s.key(name)
	if err != nil {
		return "", err
	}
	opts := minio.PutObjectOptions{ContentType: "application/json"}
	if version == "" {
		opts.SetMatchETagExcept("*")
	} else {
		opts.SetMatchETag(version)
	}
	info, err := s.core.Client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)), opts)
	if err != nil {
		resp := minio.ToErrorResponse(err)
		if resp.StatusCode == http.StatusPreconditionFailed || resp.StatusCode == http.StatusConflict ||
			resp.Code == "PreconditionFailed" || resp.Code == "ConditionalRequestConflict" {
			return "", fmt.Errorf("put %s: %w", name, ErrPrecondition)
		}
		return "", fmt.Errorf("put %s: %w", name, err)
	}
	return info.ETag, nil
}
