package main

import "syscall"

// freeBytes is the disk space an unprivileged process may still use on
// the file system that holds dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil //nolint:gosec,unconvert // Bsize is int64 on Linux and uint32 on macOS; never negative
}
