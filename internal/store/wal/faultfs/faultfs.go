// Package faultfs wraps a wal.FS and makes writes or fsyncs fail on demand,
// the way a full or failing disk does, so tests can drive the WAL and the
// store through a full disk and back without root or a dedicated mount.
// Everything else passes through to the wrapped file system, so what was
// written before and after the fault is real and can be replayed.
package faultfs

import (
	"io/fs"
	"sync/atomic"
	"syscall"

	"github.com/clewtrace/clew/internal/store/wal"
)

// FS is a wal.FS with switchable faults. The zero value is not usable; call
// New.
type FS struct {
	wal.FS
	full      atomic.Bool
	syncFails atomic.Bool
	faults    atomic.Int64
}

var _ wal.FS = (*FS)(nil)

// New wraps inner.
func New(inner wal.FS) *FS { return &FS{FS: inner} }

// SetFull makes writes and fsyncs fail with ENOSPC while on. A write
// stores half of its bytes first, as a real write that runs out of space
// midway does.
func (f *FS) SetFull(on bool) { f.full.Store(on) }

// SetSyncFails makes fsyncs of files fail with EIO while on; writes work.
func (f *FS) SetSyncFails(on bool) { f.syncFails.Store(on) }

// Faults returns how many operations failed on purpose.
func (f *FS) Faults() int64 { return f.faults.Load() }

// OpenFile opens a file whose writes and syncs obey the switches.
func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (wal.File, error) {
	file, err := f.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

type faultFile struct {
	wal.File
	fs *FS
}

func (f *faultFile) Write(p []byte) (int, error) {
	if f.fs.full.Load() {
		f.fs.faults.Add(1)
		n, err := f.File.Write(p[:len(p)/2])
		if err != nil {
			return n, err
		}
		return n, &fs.PathError{Op: "write", Path: "faultfs", Err: syscall.ENOSPC}
	}
	return f.File.Write(p)
}

func (f *faultFile) Sync() error {
	switch {
	case f.fs.full.Load():
		f.fs.faults.Add(1)
		return &fs.PathError{Op: "fsync", Path: "faultfs", Err: syscall.ENOSPC}
	case f.fs.syncFails.Load():
		f.fs.faults.Add(1)
		return &fs.PathError{Op: "fsync", Path: "faultfs", Err: syscall.EIO}
	}
	return f.File.Sync()
}
