package objstore

import (
	"io"
	"io/fs"
	"os"
)

// putFS is what Local.Put does to the file system, and nothing else: the
// seam through which a test puts a file system that models power loss
// (local_crash_test.go) under the real Put, to check that what Put
// acknowledged survives it. Reads, listing and deletes use os directly.
type putFS interface {
	Stat(name string) (fs.FileInfo, error)
	MkdirAll(path string, perm fs.FileMode) error
	CreateTemp(dir, pattern string) (putFile, error)
	Rename(oldpath, newpath string) error
	Remove(name string) error
	// SyncDir makes the creation, renaming or removal of entries in dir
	// durable.
	SyncDir(dir string) error
}

// putFile is a file being written by Put.
type putFile interface {
	io.Writer
	Name() string
	Sync() error
	Close() error
}

// osPutFS is the operating system's file system.
type osPutFS struct{}

func (osPutFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }
func (osPutFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }
func (osPutFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osPutFS) Remove(name string) error                     { return os.Remove(name) }
func (osPutFS) SyncDir(dir string) error                     { return syncDir(dir) }

func (osPutFS) CreateTemp(dir, pattern string) (putFile, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return f, nil
}
