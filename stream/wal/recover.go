package wal

import (
	"bufio"
	"fmt"
	"io"
	"os"
)

// recover opens the files in l.dir, checks that they form one contiguous
// log, cuts a torn tail off the last one and leaves it open for appending.
func (l *FileLog) recover() error {
	files, err := filePaths(l.dir)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		f, path, err := createFile(l.dir, 0)
		if err != nil {
			return err
		}
		l.files = []logFile{{base: 0, end: 0, path: path}}
		l.active, l.activeSize = f, fileHeaderSize
		l.recovery.Files = 1
		return nil
	}
	for i := range files[:len(files)-1] {
		if err := checkSealedFile(files[i], files[i+1].base); err != nil {
			return err
		}
		files[i].end = files[i+1].base
	}
	last := &files[len(files)-1]
	f, err := os.OpenFile(last.path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", last.path, err)
	}
	end, err := l.recoverLast(f, last.base)
	if err != nil {
		f.Close()
		return fmt.Errorf("wal: %s: %w", last.path, err)
	}
	size := fileHeaderSize + int64(end-last.base)
	if _, err := f.Seek(size, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("wal: %s: %w", last.path, err)
	}
	last.end = end
	l.files, l.active, l.activeSize, l.next = files, f, size, end
	l.recovery.Files = len(files)
	return nil
}

// checkSealedFile checks the header of a file that is not the last one and
// that its size is exactly what the next file's base says. Its records are
// checked when they are read.
func checkSealedFile(f logFile, nextBase Address) error {
	file, err := os.Open(f.path)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", f.path, err)
	}
	defer file.Close()
	h := make([]byte, fileHeaderSize)
	if _, err := io.ReadFull(file, h); err != nil {
		return fmt.Errorf("wal: %s: file header: %w (%w)", f.path, err, ErrCorrupt)
	}
	if err := checkFileHeader(h, f.base); err != nil {
		return fmt.Errorf("wal: %s: %w", f.path, err)
	}
	st, err := file.Stat()
	if err != nil {
		return fmt.Errorf("wal: %s: %w", f.path, err)
	}
	if nextBase < f.base {
		return fmt.Errorf("wal: %s: next file starts at %d, before this one: %w", f.path, nextBase, ErrCorrupt)
	}
	if want := fileHeaderSize + int64(nextBase-f.base); st.Size() != want {
		return fmt.Errorf("wal: %s is %d bytes but the next file starts at address %d, so it should be %d bytes: %w",
			f.path, st.Size(), nextBase, want, ErrCorrupt)
	}
	return nil
}

// recoverLast scans every record of the last file and returns the end of
// the intact ones. A damaged record is taken for a torn write, and cut off
// with everything after it, only if it lies within the reach of the last
// write and no intact record follows it; otherwise cutting would lose
// acknowledged records, so it is an error.
func (l *FileLog) recoverLast(f *os.File, base Address) (Address, error) {
	h := make([]byte, fileHeaderSize)
	if _, err := io.ReadFull(f, h); err != nil {
		return 0, fmt.Errorf("file header: %w (%w)", err, ErrCorrupt)
	}
	if err := checkFileHeader(h, base); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	r := bufio.NewReaderSize(f, 256<<10)
	hdr := make([]byte, frameHeaderSize)
	addr := base
	var damage error
	for {
		off := fileHeaderSize + int64(addr-base)
		if off == st.Size() {
			return addr, nil
		}
		e, err := readRecord(r, hdr, addr)
		if err != nil {
			damage = err
			break
		}
		addr = e.Next
	}
	off := fileHeaderSize + int64(addr-base)
	rest := st.Size() - off
	if rest > tornWindow {
		return 0, fmt.Errorf("%w; it is %d bytes before the end, farther than an interrupted write reaches (%d), so acknowledged records would be lost", damage, rest, tornWindow)
	}
	tail := make([]byte, rest)
	if _, err := f.ReadAt(tail, off); err != nil {
		return 0, fmt.Errorf("read tail: %w", err)
	}
	if at, ok := findRecord(tail, addr); ok {
		return 0, fmt.Errorf("%w; an intact record follows at address %d, so this is not a torn write and cutting would lose acknowledged records", damage, at)
	}
	if err := f.Truncate(off); err != nil {
		return 0, fmt.Errorf("cut torn tail: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("cut torn tail: %w", err)
	}
	l.recovery.TornBytes, l.recovery.TornAt = rest, addr
	l.log.Warn("cut a torn write off the end of the write-ahead log", "file", f.Name(), "address", addr, "bytes", rest, "reason", damage)
	return addr, nil
}

// findRecord looks for an intact record starting anywhere in b after its
// first byte, where b[0] is at address start.
func findRecord(b []byte, start Address) (Address, bool) {
	for i := 1; i+frameHeaderSize <= len(b); i++ {
		at := start + Address(i)
		if _, _, err := DecodeRecord(b[i:], at); err == nil {
			return at, true
		}
	}
	return 0, false
}
