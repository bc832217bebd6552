//go:build !linux

package wal

import "os"

func dataSync(f *os.File) error { return f.Sync() }
