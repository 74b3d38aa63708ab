package block

import (
	"context"

	"github.com/clewtrace/clew/internal/objstore"
)

// ReadMeta reads and checks one block's meta.json.
func ReadMeta(ctx context.Context, b objstore.Bucket, id string) (Meta, error) {
	return readMeta(ctx, b, id)
}
