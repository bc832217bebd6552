package snapshot

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/zstd"

	"github.com/cloudskin/cloudskin/cell/wasi"
)

// The container, byte by byte, is described in docs/formats/snapshot.md;
// keep the two in step.
const (
	magic         = "CSNP"
	formatVersion = 1

	headerSize    = 44 // magic, version, flags, module hash, header CRC
	bodyFixedSize = 24 // host calls, memory pages, page count, metadata and MPI lengths
	pageEntrySize = 4 + PageSize

	// maxChunk bounds one chunk of the compressed body. A reader holds one
	// chunk at a time, so this is also what a corrupt length can make it
	// allocate.
	maxChunk = 1 << 20
	// maxMemoryPages is the wasm32 limit (4 GiB).
	maxMemoryPages = 65536
	maxMetadata    = 16 << 20
	maxMPI         = 256 << 20
	// zstdWindow is the zstd window a writer uses: at 1 MiB (16 pages)
	// the match history stays in cache, which makes encoding three times
	// as fast as at 8 MiB with no loss on memory images. maxZstdWindow is
	// the largest a reader accepts; it bounds the decoder's history buffer
	// whatever a frame header claims.
	zstdWindow    = 1 << 20
	maxZstdWindow = 8 << 20
)

// castagnoli is read-only after initialisation; crc32 caches the table.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors returned by Decode and ReadFile, wrapped with the details; test
// with errors.Is.
var (
	// ErrNotSnapshot: the data does not start with the snapshot magic.
	ErrNotSnapshot = errors.New("not a CloudSkin snapshot")
	// ErrUnsupported: a snapshot format version (or flag) this build
	// does not read.
	ErrUnsupported = errors.New("unsupported format")
	// ErrCorrupt: a checksum does not match or a field is impossible.
	ErrCorrupt = errors.New("corrupt")
	// ErrTruncated: the data ends before the snapshot does.
	ErrTruncated = errors.New("truncated")
	// ErrWrongModule: the snapshot is of another module than the one the
	// caller resumes it with.
	ErrWrongModule = errors.New("wrong module")
)

// metadata is the JSON part of the body: the small, structured state.
type metadata struct {
	Engine  string     `json:"engine"`
	Globals []global   `json:"globals"`
	WASI    wasi.State `json:"wasi"`
}

type global struct {
	Name  string `json:"name"`
	Value uint64 `json:"value"`
}

// Encode writes s: versioned, checksummed, compressed. See
// docs/formats/snapshot.md. Page data is streamed through the compressor,
// never copied whole. s is checked first (page size, order and range,
// limits), so an invalid snapshot writes nothing.
func Encode(w io.Writer, s *Snapshot) error {
	if err := encode(w, s); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

func encode(w io.Writer, s *Snapshot) error {
	if s == nil {
		return errors.New("nil snapshot")
	}
	meta, err := s.encodeCheck()
	if err != nil {
		return err
	}

	cw := &checksumWriter{w: w}
	var h [headerSize]byte
	copy(h[0:4], magic)
	binary.LittleEndian.PutUint16(h[4:6], formatVersion)
	binary.LittleEndian.PutUint16(h[6:8], 0) // flags: none defined
	copy(h[8:40], s.ModuleHash[:])
	binary.LittleEndian.PutUint32(h[40:44], crc32.Checksum(h[:40], castagnoli))
	if _, err := cw.Write(h[:]); err != nil {
		return err
	}

	chunks := &chunkWriter{w: cw}
	// One goroutine: a snapshot is taken while the cell is stopped, and the
	// host has other cells to run. SpeedFastest because memory is mostly
	// zeros (cheap at any level) or data that does not compress much.
	zw, err := zstd.NewWriter(chunks,
		zstd.WithEncoderLevel(zstd.SpeedFastest),
		zstd.WithWindowSize(zstdWindow),
		zstd.WithEncoderConcurrency(1),
		zstd.WithEncoderCRC(true))
	if err != nil {
		return err
	}
	body := &countingWriter{w: zw}
	if err := s.writeBody(body, meta); err != nil {
		zw.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := chunks.close(); err != nil {
		return err
	}

	var t [12]byte
	binary.LittleEndian.PutUint64(t[0:8], body.n)
	if _, err := cw.Write(t[0:8]); err != nil {
		return err
	}
	binary.LittleEndian.PutUint32(t[8:12], cw.sum)
	_, err = w.Write(t[8:12])
	return err
}

// encodeCheck validates s against the format's rules and limits and
// returns its metadata JSON.
func (s *Snapshot) encodeCheck() ([]byte, error) {
	if s.MemoryPages > maxMemoryPages {
		return nil, fmt.Errorf("%d memory pages, more than %d", s.MemoryPages, maxMemoryPages)
	}
	for i, p := range s.Pages {
		if p.Index >= s.MemoryPages {
			return nil, fmt.Errorf("page %d is beyond memory (%d pages)", p.Index, s.MemoryPages)
		}
		if i > 0 && p.Index <= s.Pages[i-1].Index {
			return nil, fmt.Errorf("page %d follows page %d: pages must be in ascending order, each once", p.Index, s.Pages[i-1].Index)
		}
		if len(p.Data) != PageSize {
			return nil, fmt.Errorf("page %d has %d bytes, want %d", p.Index, len(p.Data), PageSize)
		}
	}
	if len(s.MPI) > maxMPI {
		return nil, fmt.Errorf("MPI state is %d bytes, more than %d", len(s.MPI), maxMPI)
	}
	m := metadata{Engine: s.Engine, WASI: s.WASI}
	if s.Globals != nil {
		m.Globals = make([]global, len(s.Globals))
		for i, g := range s.Globals {
			m.Globals[i] = global(g)
		}
	}
	meta, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(meta) > maxMetadata {
		return nil, fmt.Errorf("metadata is %d bytes of JSON, more than %d", len(meta), maxMetadata)
	}
	return meta, nil
}

func (s *Snapshot) writeBody(w io.Writer, meta []byte) error {
	var f [bodyFixedSize]byte
	binary.LittleEndian.PutUint64(f[0:8], s.HostCalls)
	binary.LittleEndian.PutUint32(f[8:12], s.MemoryPages)
	binary.LittleEndian.PutUint32(f[12:16], uint32(len(s.Pages)))
	binary.LittleEndian.PutUint32(f[16:20], uint32(len(meta)))
	binary.LittleEndian.PutUint32(f[20:24], uint32(len(s.MPI)))
	if _, err := w.Write(f[:]); err != nil {
		return err
	}
	if _, err := w.Write(meta); err != nil {
		return err
	}
	if _, err := w.Write(s.MPI); err != nil {
		return err
	}
	for _, p := range s.Pages {
		var idx [4]byte
		binary.LittleEndian.PutUint32(idx[:], p.Index)
		if _, err := w.Write(idx[:]); err != nil {
			return err
		}
		if _, err := w.Write(p.Data); err != nil {
			return err
		}
	}
	return nil
}

// Decode reads a snapshot written by Encode. want, if non-nil, is the hash
// of the module the caller will resume it with; a snapshot of another
// module is refused (ErrWrongModule) before its body is read.
//
// Decode reads exactly the snapshot's bytes from r, so a snapshot can be
// followed by other data on a stream; it reads a chunk (up to 1 MiB) at a
// time, so r needs no buffering. Nothing is returned unless the trailing
// checksum matches. Memory is allocated as data arrives, bounded by the
// format's limits, never by a length field alone.
func Decode(r io.Reader, want *[32]byte) (*Snapshot, error) {
	s, err := decode(r, want)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	return s, nil
}

func decode(r io.Reader, want *[32]byte) (*Snapshot, error) {
	cr := &checksumReader{r: r}
	var h [headerSize]byte
	n, err := io.ReadFull(cr, h[:])
	switch got := h[:min(n, len(magic))]; {
	case n == 0 && err == io.EOF:
		return nil, fmt.Errorf("%w: no data", ErrNotSnapshot)
	case !bytes.HasPrefix([]byte(magic), got):
		return nil, fmt.Errorf("%w: starts with %q", ErrNotSnapshot, got)
	case err != nil:
		return nil, readError(err, "in the header")
	}
	if v := binary.LittleEndian.Uint16(h[4:6]); v != formatVersion {
		return nil, fmt.Errorf("%w: version %d (this build reads version %d)", ErrUnsupported, v, formatVersion)
	}
	// The header has its own checksum so that a damaged module hash is
	// reported as damage, not as a snapshot of another module.
	if sum, stored := crc32.Checksum(h[:40], castagnoli), binary.LittleEndian.Uint32(h[40:44]); sum != stored {
		return nil, fmt.Errorf("%w: header checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, stored, sum)
	}
	if f := binary.LittleEndian.Uint16(h[6:8]); f != 0 {
		return nil, fmt.Errorf("%w: flags %#04x", ErrUnsupported, f)
	}
	s := &Snapshot{}
	copy(s.ModuleHash[:], h[8:40])
	if want != nil && *want != s.ModuleHash {
		return nil, fmt.Errorf("%w: the snapshot is of module %s, the module to resume is %s", ErrWrongModule, shortHash(s.ModuleHash), shortHash(*want))
	}

	chunks := &chunkReader{r: cr}
	zr, err := zstd.NewReader(chunks,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxWindow(maxZstdWindow),
		zstd.WithDecoderMaxMemory(maxZstdWindow),
		zstd.WithDecoderLowmem(true))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	body := &countingReader{r: zr}
	if err := s.readBody(body); err != nil {
		// A short or failing read beneath the decompressor is the real
		// cause, whatever zstd made of it.
		if chunks.err != nil {
			return nil, chunks.err
		}
		return nil, err
	}
	if !chunks.done {
		return nil, fmt.Errorf("%w: compressed body continues after the zstd data", ErrCorrupt)
	}

	var t [12]byte
	if _, err := io.ReadFull(cr, t[0:8]); err != nil {
		return nil, readError(err, "in the trailer")
	}
	sum := cr.sum
	if _, err := io.ReadFull(r, t[8:12]); err != nil {
		return nil, readError(err, "in the trailer")
	}
	if stored := binary.LittleEndian.Uint32(t[8:12]); stored != sum {
		return nil, fmt.Errorf("%w: checksum mismatch (stored %08x, computed %08x)", ErrCorrupt, stored, sum)
	}
	if l := binary.LittleEndian.Uint64(t[0:8]); l != body.n {
		return nil, fmt.Errorf("%w: body is %d bytes, trailer says %d", ErrCorrupt, body.n, l)
	}
	return s, nil
}

// readBody reads the decompressed body into s. Any error is ErrCorrupt (or
// a read error from beneath, which the caller prefers).
func (s *Snapshot) readBody(r io.Reader) error {
	var f [bodyFixedSize]byte
	if _, err := io.ReadFull(r, f[:]); err != nil {
		return bodyError(err, "body header")
	}
	s.HostCalls = binary.LittleEndian.Uint64(f[0:8])
	s.MemoryPages = binary.LittleEndian.Uint32(f[8:12])
	nPages := binary.LittleEndian.Uint32(f[12:16])
	metaLen := binary.LittleEndian.Uint32(f[16:20])
	mpiLen := binary.LittleEndian.Uint32(f[20:24])
	switch {
	case s.MemoryPages > maxMemoryPages:
		return fmt.Errorf("%w: %d memory pages, more than %d", ErrCorrupt, s.MemoryPages, maxMemoryPages)
	case nPages > s.MemoryPages:
		return fmt.Errorf("%w: %d pages listed in a memory of %d", ErrCorrupt, nPages, s.MemoryPages)
	case metaLen > maxMetadata:
		return fmt.Errorf("%w: metadata length %d, more than %d", ErrCorrupt, metaLen, maxMetadata)
	case mpiLen > maxMPI:
		return fmt.Errorf("%w: MPI state length %d, more than %d", ErrCorrupt, mpiLen, maxMPI)
	}

	meta, err := readBytes(r, metaLen)
	if err != nil {
		return bodyError(err, "metadata")
	}
	if err := s.setMetadata(meta); err != nil {
		return fmt.Errorf("%w: metadata: %v", ErrCorrupt, err)
	}
	if s.MPI, err = readBytes(r, mpiLen); err != nil {
		return bodyError(err, "MPI state")
	}

	if nPages > 0 {
		// At most 65536 × 32 bytes; the page data itself is allocated
		// page by page as it arrives.
		s.Pages = make([]Page, 0, nPages)
	}
	for i := range nPages {
		var idx [4]byte
		if _, err := io.ReadFull(r, idx[:]); err != nil {
			return bodyError(err, fmt.Sprintf("page entry %d", i))
		}
		p := Page{Index: binary.LittleEndian.Uint32(idx[:])}
		if p.Index >= s.MemoryPages {
			return fmt.Errorf("%w: page %d is beyond memory (%d pages)", ErrCorrupt, p.Index, s.MemoryPages)
		}
		if i > 0 && p.Index <= s.Pages[i-1].Index {
			return fmt.Errorf("%w: page %d follows page %d", ErrCorrupt, p.Index, s.Pages[i-1].Index)
		}
		p.Data = make([]byte, PageSize)
		if _, err := io.ReadFull(r, p.Data); err != nil {
			return bodyError(err, fmt.Sprintf("page %d", p.Index))
		}
		s.Pages = append(s.Pages, p)
	}

	// The body must end here; reading on also makes zstd verify the
	// frame's own checksum and consume the rest of the chunks.
	var one [1]byte
	switch n, err := io.ReadFull(r, one[:]); {
	case n > 0:
		return fmt.Errorf("%w: data after the last page", ErrCorrupt)
	case err != io.EOF:
		return bodyError(err, "end of body")
	}
	return nil
}

func (s *Snapshot) setMetadata(b []byte) error {
	// Unknown fields are refused: they would be state a newer writer
	// recorded and this reader would silently drop on resume.
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	var m metadata
	if err := d.Decode(&m); err != nil {
		return err
	}
	if d.More() {
		return errors.New("data after the JSON object")
	}
	s.Engine, s.WASI = m.Engine, m.WASI
	if m.Globals != nil {
		s.Globals = make([]Global, len(m.Globals))
		for i, g := range m.Globals {
			s.Globals[i] = Global(g)
		}
	}
	return nil
}

// readBytes reads n bytes, growing the buffer as data arrives rather than
// trusting n for one allocation. n == 0 gives nil.
func readBytes(r io.Reader, n uint32) ([]byte, error) {
	if n == 0 {
		return nil, nil
	}
	var b bytes.Buffer
	b.Grow(int(min(n, 1<<20)))
	if _, err := io.CopyN(&b, r, int64(n)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// bodyError reports a failed read of the decompressed body. The compressed
// data ending where it should (truncation is caught beneath) but the body
// ending early, or zstd refusing the data, are both corruption.
func bodyError(err error, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: body ends in %s", ErrCorrupt, what)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, what, err)
}

// readError reports a failed read of the raw data: its end is truncation,
// anything else is the reader's own error.
func readError(err error, where string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: data ends %s", ErrTruncated, where)
	}
	return err
}

func shortHash(h [32]byte) string { return hex.EncodeToString(h[:6]) }

// checksumWriter keeps the running CRC-32C of everything written to w.
type checksumWriter struct {
	w   io.Writer
	sum uint32
}

func (c *checksumWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.sum = crc32.Update(c.sum, castagnoli, p[:n])
	return n, err
}

// checksumReader keeps the running CRC-32C of everything read from r.
type checksumReader struct {
	r   io.Reader
	sum uint32
}

func (c *checksumReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.sum = crc32.Update(c.sum, castagnoli, p[:n])
	return n, err
}

type countingWriter struct {
	w io.Writer
	n uint64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += uint64(n)
	return n, err
}

type countingReader struct {
	r io.Reader
	n uint64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += uint64(n)
	return n, err
}

// chunkWriter cuts the compressed stream into length-prefixed chunks, so
// that a reader knows where the compressed body ends without the
// decompressor reading past it (a zstd decoder reads ahead).
type chunkWriter struct {
	w   io.Writer
	buf []byte // 4-byte length, then up to maxChunk bytes
}

func (c *chunkWriter) Write(p []byte) (int, error) {
	if c.buf == nil {
		c.buf = make([]byte, 4, 4+maxChunk)
	}
	n := 0
	for len(p) > 0 {
		k := copy(c.buf[len(c.buf):cap(c.buf)], p)
		c.buf = c.buf[:len(c.buf)+k]
		p = p[k:]
		n += k
		if len(c.buf) == cap(c.buf) {
			if err := c.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

func (c *chunkWriter) flush() error {
	if len(c.buf) <= 4 {
		return nil
	}
	binary.LittleEndian.PutUint32(c.buf[0:4], uint32(len(c.buf)-4))
	_, err := c.w.Write(c.buf)
	c.buf = c.buf[:4]
	return err
}

// close writes the last chunk and the empty chunk that ends the body.
func (c *chunkWriter) close() error {
	if err := c.flush(); err != nil {
		return err
	}
	_, err := c.w.Write([]byte{0, 0, 0, 0})
	return err
}

// chunkReader reads the chunks chunkWriter wrote, one whole chunk at a
// time, and returns io.EOF at the empty chunk. Its first error sticks and
// is kept in err: under zstd it is the cause to report.
type chunkReader struct {
	r    io.Reader
	buf  []byte // the current chunk
	off  int    // read position in buf
	n    int    // chunks read
	done bool
	err  error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	for c.off == len(c.buf) {
		if c.done {
			return 0, io.EOF
		}
		if err := c.next(); err != nil {
			c.err = err
			return 0, err
		}
	}
	k := copy(p, c.buf[c.off:])
	c.off += k
	return k, nil
}

func (c *chunkReader) next() error {
	var l [4]byte
	if _, err := io.ReadFull(c.r, l[:]); err != nil {
		return readError(err, fmt.Sprintf("at the length of chunk %d", c.n))
	}
	size := binary.LittleEndian.Uint32(l[:])
	if size == 0 {
		c.done = true
		c.buf, c.off = c.buf[:0], 0
		return nil
	}
	if size > maxChunk {
		return fmt.Errorf("%w: chunk %d is %d bytes, more than %d", ErrCorrupt, c.n, size, maxChunk)
	}
	if cap(c.buf) < int(size) {
		c.buf = make([]byte, size)
	}
	c.buf, c.off = c.buf[:size], 0
	if _, err := io.ReadFull(c.r, c.buf); err != nil {
		return readError(err, fmt.Sprintf("in chunk %d", c.n))
	}
	c.n++
	return nil
}
