package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/clewtrace/clew/internal/objstore/s3test"
)

func newTestS3(t *testing.T, srv *s3test.Server, bucket, prefix string) *S3 {
	t.Helper()
	b, err := NewS3(context.Background(), S3Options{Bucket: bucket, Endpoint: srv.Endpoint, Insecure: true, Prefix: prefix, PartSize: 5 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestS3Details checks what the conformance suite cannot see from outside:
// large objects really go up as multipart uploads, the prefix isolates
// Clew's objects from others in the bucket, and configuration mistakes fail
// at startup with a message that names the problem.
func TestS3Details(t *testing.T) {
	srv := s3test.Start(t)
	s3test.SetCredentials(t)
	ctx := context.Background()
	bucket := srv.Bucket(t, "details")
	b := newTestS3(t, srv, bucket, "/node-a/") // slashes around the prefix are trimmed

	t.Run("Multipart", func(t *testing.T) {
		data := bytes.Repeat([]byte("0123456789abcdef"), (11<<20)/16)
		for _, name := range []string{"mp/sized", "mp/stream"} {
			var r io.Reader = bytes.NewReader(data)
			if name == "mp/stream" {
				r = io.MultiReader(r) // hides Len: length unknown
			}
			if err := b.Put(ctx, name, r); err != nil {
				t.Fatal(err)
			}
			info, err := b.core.StatObject(ctx, bucket, "node-a/"+name, minio.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			// A multipart object's ETag is "<md5 of part md5s>-<parts>".
			if !strings.HasSuffix(info.ETag, "-3") || info.Size != int64(len(data)) {
				t.Errorf("%s: ETag %q size %d, want a 3-part upload of %d bytes", name, info.ETag, info.Size, len(data))
			}
		}
	})

	t.Run("PrefixIsolates", func(t *testing.T) {
		other := newTestS3(t, srv, bucket, "node-b")
		if err := other.Put(ctx, "x/1", strings.NewReader("b")); err != nil {
			t.Fatal(err)
		}
		if err := b.Put(ctx, "x/1", strings.NewReader("a")); err != nil {
			t.Fatal(err)
		}
		var names []string
		if err := b.List(ctx, "x/", func(n string) error { names = append(names, n); return nil }); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(names) != "[x/1]" {
			t.Errorf("List = %v", names)
		}
		got, err := ReadAll(ctx, b, "x/1")
		if err != nil || string(got) != "a" {
			t.Errorf("Get = %q, %v", got, err)
		}
	})

	t.Run("ReaderPinsVersion", func(t *testing.T) {
		if err := b.Put(ctx, "v", strings.NewReader("first")); err != nil {
			t.Fatal(err)
		}
		r, err := b.Open(ctx, "v")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Put(ctx, "v", strings.NewReader("later")); err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 5)
		if n, err := r.ReadAt(ctx, p, 0); err == nil {
			t.Errorf("read of a replaced object = %q, want an error rather than the new version", p[:n])
		}
	})

	t.Run("MissingBucket", func(t *testing.T) {
		_, err := NewS3(ctx, S3Options{Bucket: "no-such-bucket", Endpoint: srv.Endpoint, Insecure: true})
		if err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("NewS3 of a missing bucket: %v", err)
		}
	})

	t.Run("WrongCredentials", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong")
		_, err := NewS3(ctx, S3Options{Bucket: bucket, Endpoint: srv.Endpoint, Insecure: true})
		if err == nil {
			t.Fatal("NewS3 with a wrong secret succeeded")
		}
		if strings.Contains(err.Error(), "wrong") {
			t.Errorf("error shows the secret: %v", err)
		}
	})

	t.Run("InvalidName", func(t *testing.T) {
		if err := b.Put(ctx, "../x", strings.NewReader("x")); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Put(../x) = %v", err)
		}
	})
}
