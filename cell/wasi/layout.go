package wasi

import (
	"encoding/binary"
	"math"
)

// Sizes of the preview1 structs as they lie in guest memory (wasm32,
// little-endian, natural alignment).
const (
	iovecSize        = 8  // buf u32, buf_len u32
	fdstatSize       = 24 // filetype u8 @0, flags u16 @2, rights_base u64 @8, rights_inheriting u64 @16
	filestatSize     = 64 // dev @0, ino @8, filetype u8 @16, nlink @24, size @32, atim @40, mtim @48, ctim @56
	prestatSize      = 8  // tag u8 @0 (0 = dir), pr_name_len u32 @4
	direntSize       = 24 // d_next u64 @0, d_ino u64 @8, d_namlen u32 @16, d_type u8 @20; name follows
	subscriptionSize = 48 // userdata u64 @0, tag u8 @8, union @16
	eventSize        = 32 // userdata u64 @0, error u16 @8, type u8 @10, nbytes u64 @16, flags u16 @24
)

// filetype.
const (
	filetypeUnknown         = 0
	filetypeBlockDevice     = 1
	filetypeCharacterDevice = 2
	filetypeDirectory       = 3
	filetypeRegularFile     = 4
	filetypeSocketDgram     = 5
	filetypeSocketStream    = 6
	filetypeSymbolicLink    = 7
)

// fdflags.
const (
	fdflagAppend   = 1 << 0
	fdflagDsync    = 1 << 1
	fdflagNonblock = 1 << 2
	fdflagRsync    = 1 << 3
	fdflagSync     = 1 << 4
	fdflagsAll     = fdflagAppend | fdflagDsync | fdflagNonblock | fdflagRsync | fdflagSync
)

// oflags (path_open).
const (
	oflagCreat     = 1 << 0
	oflagDirectory = 1 << 1
	oflagExcl      = 1 << 2
	oflagTrunc     = 1 << 3
	oflagsAll      = oflagCreat | oflagDirectory | oflagExcl | oflagTrunc
)

// lookupflags.
const lookupSymlinkFollow = 1 << 0

// fstflags (filestat_set_times).
const (
	fstflagAtim    = 1 << 0
	fstflagAtimNow = 1 << 1
	fstflagMtim    = 1 << 2
	fstflagMtimNow = 1 << 3
	fstflagsAll    = fstflagAtim | fstflagAtimNow | fstflagMtim | fstflagMtimNow
)

// whence (fd_seek).
const (
	whenceSet = 0
	whenceCur = 1
	whenceEnd = 2
)

// clockid.
const (
	clockRealtime         = 0
	clockMonotonic        = 1
	clockProcessCputimeID = 2
	clockThreadCputimeID  = 3
)

// eventtype and subclockflags (poll_oneoff).
const (
	eventtypeClock   = 0
	eventtypeFdRead  = 1
	eventtypeFdWrite = 2

	subclockAbstime = 1 << 0
)

// advice (fd_advise): normal, sequential, random, willneed, dontneed, noreuse.
const adviceNoreuse = 5

// preopentype.
const preopentypeDir = 0

// rights. Bit positions follow the spec's declaration order.
const (
	rightFdDatasync uint64 = 1 << iota
	rightFdRead
	rightFdSeek
	rightFdFdstatSetFlags
	rightFdSync
	rightFdTell
	rightFdWrite
	rightFdAdvise
	rightFdAllocate
	rightPathCreateDirectory
	rightPathCreateFile
	rightPathLinkSource
	rightPathLinkTarget
	rightPathOpen
	rightFdReaddir
	rightPathReadlink
	rightPathRenameSource
	rightPathRenameTarget
	rightPathFilestatGet
	rightPathFilestatSetSize
	rightPathFilestatSetTimes
	rightFdFilestatGet
	rightFdFilestatSetSize
	rightFdFilestatSetTimes
	rightPathSymlink
	rightPathRemoveDirectory
	rightPathUnlinkFile
	rightPollFdReadwrite
	rightSockShutdown
	rightSockAccept
)

// Rights sets.
const (
	// rightsFile is everything a regular file can do.
	rightsFile = rightFdDatasync | rightFdRead | rightFdSeek |
		rightFdFdstatSetFlags | rightFdSync | rightFdTell | rightFdWrite |
		rightFdAdvise | rightFdAllocate | rightFdFilestatGet |
		rightFdFilestatSetSize | rightFdFilestatSetTimes | rightPollFdReadwrite

	// rightsDir is everything a directory can do.
	rightsDir = rightFdFdstatSetFlags | rightFdSync | rightFdAdvise |
		rightPathCreateDirectory | rightPathCreateFile | rightPathLinkSource |
		rightPathLinkTarget | rightPathOpen | rightFdReaddir |
		rightPathReadlink | rightPathRenameSource | rightPathRenameTarget |
		rightPathFilestatGet | rightPathFilestatSetSize |
		rightPathFilestatSetTimes | rightFdFilestatGet |
		rightFdFilestatSetTimes | rightPathSymlink |
		rightPathRemoveDirectory | rightPathUnlinkFile

	// rightsWriting are the rights that need the host file open for
	// writing. wasi-libc asks for exactly these when open() has O_WRONLY or
	// O_RDWR, and leaves them out for O_RDONLY, so they tell us the access
	// mode (wasmtime reads them the same way).
	rightsWriting = rightFdDatasync | rightFdWrite | rightFdAllocate |
		rightFdFilestatSetSize

	// rightsReading need the host file open for reading.
	rightsReading = rightFdRead | rightFdReaddir

	rightsStdin  = rightFdRead | rightFdFdstatSetFlags | rightFdFilestatGet | rightPollFdReadwrite
	rightsStdout = rightFdWrite | rightFdFdstatSetFlags | rightFdFilestatGet | rightPollFdReadwrite
)

// memory is a guest's linear memory. Every accessor checks bounds and
// reports failure instead of panicking, so a bad guest pointer becomes
// EFAULT.
type memory []byte

// slice returns mem[ptr:ptr+n], or false if any of it is outside memory.
// Arithmetic is in 64 bits so ptr+n cannot wrap.
func (m memory) slice(ptr, n uint32) ([]byte, bool) {
	end := uint64(ptr) + uint64(n)
	if end > uint64(len(m)) {
		return nil, false
	}
	return m[ptr:end:end], true
}

// has reports whether [ptr, ptr+n) is inside memory. Functions check their
// result pointers with it before doing anything with side effects, so a bad
// pointer never leaves work half done.
func (m memory) has(ptr, n uint32) bool {
	return uint64(ptr)+uint64(n) <= uint64(len(m))
}

// hasArray reports whether count elements of size bytes at ptr are inside
// memory, without overflowing the multiplication.
func (m memory) hasArray(ptr, count, size uint32) bool {
	return uint64(ptr)+uint64(count)*uint64(size) <= uint64(len(m))
}

func (m memory) putU32(ptr, v uint32) bool {
	b, ok := m.slice(ptr, 4)
	if !ok {
		return false
	}
	binary.LittleEndian.PutUint32(b, v)
	return true
}

func (m memory) putU64(ptr uint32, v uint64) bool {
	b, ok := m.slice(ptr, 8)
	if !ok {
		return false
	}
	binary.LittleEndian.PutUint64(b, v)
	return true
}

// iovecs resolves count iovecs at ptr into slices of memory. Every iovec and
// every buffer is checked before any I/O starts; a fault anywhere is
// EFAULT with nothing read or written.
func (m memory) iovecs(ptr, count uint32) ([][]byte, errno) {
	if !m.hasArray(ptr, count, iovecSize) {
		return nil, errnoFault
	}
	bufs := make([][]byte, 0, min(count, 64))
	var total int64
	for i := range count {
		at := ptr + i*iovecSize
		base := binaryU32(m[at:])
		n := binaryU32(m[at+4:])
		b, ok := m.slice(base, n)
		if !ok {
			return nil, errnoFault
		}
		// iovecs may overlap, so their sum is unbounded by memory size.
		// Stop at what the u32 result (nread/nwritten) can count; a short
		// transfer is allowed, and the guest asks again for the rest.
		if room := maxTransfer - total; int64(len(b)) > room {
			b = b[:room]
		}
		total += int64(len(b))
		bufs = append(bufs, b)
	}
	return bufs, errnoSuccess
}

// maxTransfer caps the bytes one fd_read/fd_write moves. It fits the u32
// count returned to the guest and the int of Go's io interfaces.
const maxTransfer = math.MaxInt32

func binaryU32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
