package objstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/clewtrace/clew/internal/objstore"
	"github.com/clewtrace/clew/internal/objstore/objstoretest"
	"github.com/clewtrace/clew/internal/objstore/s3test"
)

// TestS3Conformance runs the suite against a real S3 server (versitygw).
// Parts of 5 MiB make the suite's large object a three-part multipart
// upload; a prefix keeps each bucket's objects below "clew/".
func TestS3Conformance(t *testing.T) {
	srv := s3test.Start(t)
	s3test.SetCredentials(t)
	var n atomic.Int32
	objstoretest.Run(t, func(t *testing.T) objstore.Bucket {
		name := srv.Bucket(t, fmt.Sprintf("conformance-%d", n.Add(1)))
		b, err := objstore.NewS3(context.Background(), objstore.S3Options{
			Bucket: name, Endpoint: srv.Endpoint, Insecure: true, Prefix: "clew/", PartSize: 5 << 20,
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
