package block

import (
	"os"
	"time"
)

// tempDir is for the shared benchmark block, which outlives any one
// benchmark's b.TempDir. It is left in the OS temp directory.
func tempDir() (string, error) { return os.MkdirTemp("", "clew-block-bench-") }

func timeZero() time.Time { return time.Unix(1_700_000_000, 0) }
