package wasi

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
)

// errno is a WASI preview1 error number. The spec defines it as u16, but
// every function returns it as an i32, so we keep it as the wider type the
// stack carries.
type errno uint32

// The preview1 errno values, in spec order: the value is the position.
// wasi-libc uses the same numbers for C's errno, so what we return here is
// exactly what the C program sees in errno.
const (
	errnoSuccess errno = iota
	errno2big
	errnoAcces
	errnoAddrinuse
	errnoAddrnotavail
	errnoAfnosupport
	errnoAgain
	errnoAlready
	errnoBadf
	errnoBadmsg
	errnoBusy
	errnoCanceled
	errnoChild
	errnoConnaborted
	errnoConnrefused
	errnoConnreset
	errnoDeadlk
	errnoDestaddrreq
	errnoDom
	errnoDquot
	errnoExist
	errnoFault
	errnoFbig
	errnoHostunreach
	errnoIdrm
	errnoIlseq
	errnoInprogress
	errnoIntr
	errnoInval
	errnoIo
	errnoIsconn
	errnoIsdir
	errnoLoop
	errnoMfile
	errnoMlink
	errnoMsgsize
	errnoMultihop
	errnoNametoolong
	errnoNetdown
	errnoNetreset
	errnoNetunreach
	errnoNfile
	errnoNobufs
	errnoNodev
	errnoNoent
	errnoNoexec
	errnoNolck
	errnoNolink
	errnoNomem
	errnoNomsg
	errnoNoprotoopt
	errnoNospc
	errnoNosys
	errnoNotconn
	errnoNotdir
	errnoNotempty
	errnoNotrecoverable
	errnoNotsock
	errnoNotsup
	errnoNotty
	errnoNxio
	errnoOverflow
	errnoOwnerdead
	errnoPerm
	errnoPipe
	errnoProto
	errnoProtonosupport
	errnoPrototype
	errnoRange
	errnoRofs
	errnoSpipe
	errnoSrch
	errnoStale
	errnoTimedout
	errnoTxtbsy
	errnoXdev
	errnoNotcapable
)

// errnoNames are the C names, for test failures and debugging.
var errnoNames = [...]string{
	"ESUCCESS", "E2BIG", "EACCES", "EADDRINUSE", "EADDRNOTAVAIL",
	"EAFNOSUPPORT", "EAGAIN", "EALREADY", "EBADF", "EBADMSG", "EBUSY",
	"ECANCELED", "ECHILD", "ECONNABORTED", "ECONNREFUSED", "ECONNRESET",
	"EDEADLK", "EDESTADDRREQ", "EDOM", "EDQUOT", "EEXIST", "EFAULT", "EFBIG",
	"EHOSTUNREACH", "EIDRM", "EILSEQ", "EINPROGRESS", "EINTR", "EINVAL",
	"EIO", "EISCONN", "EISDIR", "ELOOP", "EMFILE", "EMLINK", "EMSGSIZE",
	"EMULTIHOP", "ENAMETOOLONG", "ENETDOWN", "ENETRESET", "ENETUNREACH",
	"ENFILE", "ENOBUFS", "ENODEV", "ENOENT", "ENOEXEC", "ENOLCK", "ENOLINK",
	"ENOMEM", "ENOMSG", "ENOPROTOOPT", "ENOSPC", "ENOSYS", "ENOTCONN",
	"ENOTDIR", "ENOTEMPTY", "ENOTRECOVERABLE", "ENOTSOCK", "ENOTSUP",
	"ENOTTY", "ENXIO", "EOVERFLOW", "EOWNERDEAD", "EPERM", "EPIPE", "EPROTO",
	"EPROTONOSUPPORT", "EPROTOTYPE", "ERANGE", "EROFS", "ESPIPE", "ESRCH",
	"ESTALE", "ETIMEDOUT", "ETXTBSY", "EXDEV", "ENOTCAPABLE",
}

func (e errno) String() string {
	if int(e) < len(errnoNames) {
		return errnoNames[e]
	}
	return fmt.Sprintf("errno(%d)", uint32(e))
}

// errPathEscapes is how os.Root reports a path that would leave the root
// ("..", an absolute symlink, a symlink pointing outside). The standard
// library does not export the error value, so we recognise its text.
const errPathEscapesText = "path escapes from parent"

// errnoOf maps an error from the os package to the errno a C program
// expects. Escapes from a preopen become EPERM: the guest asked for
// something outside its sandbox, which is "operation not permitted" rather
// than "not found" (wasmtime answers the same).
func errnoOf(err error) errno {
	if err == nil {
		return errnoSuccess
	}
	if strings.Contains(err.Error(), errPathEscapesText) {
		return errnoPerm
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		return errnoOfSyscall(se)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return errnoNoent
	case errors.Is(err, fs.ErrExist):
		return errnoExist
	case errors.Is(err, fs.ErrPermission):
		return errnoAcces
	case errors.Is(err, fs.ErrInvalid):
		return errnoInval
	case errors.Is(err, fs.ErrClosed):
		return errnoBadf
	}
	return errnoIo
}

// errnoOfSyscall maps the host's errno. Only the names every Unix defines
// are listed; anything else is an I/O error to the guest.
func errnoOfSyscall(e syscall.Errno) errno {
	switch e {
	case 0:
		return errnoSuccess
	case syscall.E2BIG:
		return errno2big
	case syscall.EACCES:
		return errnoAcces
	case syscall.EAGAIN:
		return errnoAgain
	case syscall.EBADF:
		return errnoBadf
	case syscall.EBUSY:
		return errnoBusy
	case syscall.EDQUOT:
		return errnoDquot
	case syscall.EEXIST:
		return errnoExist
	case syscall.EFAULT:
		return errnoFault
	case syscall.EFBIG:
		return errnoFbig
	case syscall.EINTR:
		return errnoIntr
	case syscall.EINVAL:
		return errnoInval
	case syscall.EIO:
		return errnoIo
	case syscall.EISDIR:
		return errnoIsdir
	case syscall.ELOOP:
		return errnoLoop
	case syscall.EMFILE:
		return errnoMfile
	case syscall.EMLINK:
		return errnoMlink
	case syscall.ENAMETOOLONG:
		return errnoNametoolong
	case syscall.ENFILE:
		return errnoNfile
	case syscall.ENODEV:
		return errnoNodev
	case syscall.ENOENT:
		return errnoNoent
	case syscall.ENOMEM:
		return errnoNomem
	case syscall.ENOSPC:
		return errnoNospc
	case syscall.ENOSYS:
		return errnoNosys
	case syscall.ENOTDIR:
		return errnoNotdir
	case syscall.ENOTEMPTY:
		return errnoNotempty
	case syscall.ENOTSUP:
		return errnoNotsup
	case syscall.ENXIO:
		return errnoNxio
	case syscall.EOVERFLOW:
		return errnoOverflow
	case syscall.EPERM:
		return errnoPerm
	case syscall.EPIPE:
		return errnoPipe
	case syscall.ERANGE:
		return errnoRange
	case syscall.EROFS:
		return errnoRofs
	case syscall.ESPIPE:
		return errnoSpipe
	case syscall.ETXTBSY:
		return errnoTxtbsy
	case syscall.EXDEV:
		return errnoXdev
	}
	return errnoIo
}
