//! I/O errors in messages, worded alike in every runtime.
//!
//! Under WASI an `io::Error` carries a WASI error number, and the guest's libc words it:
//! a full disk reads "No space left on device (os error 51)" where Linux says "(os error
//! 28)", and a long path "Filename too long (os error 37)" where Linux says "File name too
//! long (os error 36)". A message must not depend on the runtime, so the guest words each
//! WASI number as Linux (where unfurl's hosts run) numbers and words it. Only the text
//! changes: the error's kind, which decides what a caller does, is the same either way.

use std::io;

/// How `err` reads in a message, if this runtime words it differently from a native
/// Linux process; `None` to use its own `Display`.
pub(crate) fn io_text(err: &io::Error) -> Option<String> {
    let (number, text) = host_errno(err.raw_os_error()?)?;
    Some(format!("{text} (os error {number})"))
}

/// The Linux number and `strerror` text of WASI error number `wasi` (WASI preview 1's
/// `errno`, in the order of its specification); `None` for `ENOTCAPABLE`, which Linux does
/// not have, and for numbers WASI does not define.
#[cfg(target_os = "wasi")]
fn host_errno(wasi: i32) -> Option<(i32, &'static str)> {
    Some(match wasi {
        1 => (7, "Argument list too long"),                    // E2BIG
        2 => (13, "Permission denied"),                        // EACCES
        3 => (98, "Address already in use"),                   // EADDRINUSE
        4 => (99, "Cannot assign requested address"),          // EADDRNOTAVAIL
        5 => (97, "Address family not supported by protocol"), // EAFNOSUPPORT
        6 => (11, "Resource temporarily unavailable"),         // EAGAIN
        7 => (114, "Operation already in progress"),           // EALREADY
        8 => (9, "Bad file descriptor"),                       // EBADF
        9 => (74, "Bad message"),                              // EBADMSG
        10 => (16, "Device or resource busy"),                 // EBUSY
        11 => (125, "Operation canceled"),                     // ECANCELED
        12 => (10, "No child processes"),                      // ECHILD
        13 => (103, "Software caused connection abort"),       // ECONNABORTED
        14 => (111, "Connection refused"),                     // ECONNREFUSED
        15 => (104, "Connection reset by peer"),               // ECONNRESET
        16 => (35, "Resource deadlock avoided"),               // EDEADLK
        17 => (89, "Destination address required"),            // EDESTADDRREQ
        18 => (33, "Numerical argument out of domain"),        // EDOM
        19 => (122, "Disk quota exceeded"),                    // EDQUOT
        20 => (17, "File exists"),                             // EEXIST
        21 => (14, "Bad address"),                             // EFAULT
        22 => (27, "File too large"),                          // EFBIG
        23 => (113, "No route to host"),                       // EHOSTUNREACH
        24 => (43, "Identifier removed"),                      // EIDRM
        25 => (84, "Invalid or incomplete multibyte or wide character"), // EILSEQ
        26 => (115, "Operation now in progress"),              // EINPROGRESS
        27 => (4, "Interrupted system call"),                  // EINTR
        28 => (22, "Invalid argument"),                        // EINVAL
        29 => (5, "Input/output error"),                       // EIO
        30 => (106, "Transport endpoint is already connected"), // EISCONN
        31 => (21, "Is a directory"),                          // EISDIR
        32 => (40, "Too many levels of symbolic links"),       // ELOOP
        33 => (24, "Too many open files"),                     // EMFILE
        34 => (31, "Too many links"),                          // EMLINK
        35 => (90, "Message too long"),                        // EMSGSIZE
        36 => (72, "Multihop attempted"),                      // EMULTIHOP
        37 => (36, "File name too long"),                      // ENAMETOOLONG
        38 => (100, "Network is down"),                        // ENETDOWN
        39 => (102, "Network dropped connection on reset"),    // ENETRESET
        40 => (101, "Network is unreachable"),                 // ENETUNREACH
        41 => (23, "Too many open files in system"),           // ENFILE
        42 => (105, "No buffer space available"),              // ENOBUFS
        43 => (19, "No such device"),                          // ENODEV
        44 => (2, "No such file or directory"),                // ENOENT
        45 => (8, "Exec format error"),                        // ENOEXEC
        46 => (37, "No locks available"),                      // ENOLCK
        47 => (67, "Link has been severed"),                   // ENOLINK
        48 => (12, "Cannot allocate memory"),                  // ENOMEM
        49 => (42, "No message of desired type"),              // ENOMSG
        50 => (92, "Protocol not available"),                  // ENOPROTOOPT
        51 => (28, "No space left on device"),                 // ENOSPC
        52 => (38, "Function not implemented"),                // ENOSYS
        53 => (107, "Transport endpoint is not connected"),    // ENOTCONN
        54 => (20, "Not a directory"),                         // ENOTDIR
        55 => (39, "Directory not empty"),                     // ENOTEMPTY
        56 => (131, "State not recoverable"),                  // ENOTRECOVERABLE
        57 => (88, "Socket operation on non-socket"),          // ENOTSOCK
        58 => (95, "Operation not supported"),                 // ENOTSUP
        59 => (25, "Inappropriate ioctl for device"),          // ENOTTY
        60 => (6, "No such device or address"),                // ENXIO
        61 => (75, "Value too large for defined data type"),   // EOVERFLOW
        62 => (130, "Owner died"),                             // EOWNERDEAD
        63 => (1, "Operation not permitted"),                  // EPERM
        64 => (32, "Broken pipe"),                             // EPIPE
        65 => (71, "Protocol error"),                          // EPROTO
        66 => (93, "Protocol not supported"),                  // EPROTONOSUPPORT
        67 => (91, "Protocol wrong type for socket"),          // EPROTOTYPE
        68 => (34, "Numerical result out of range"),           // ERANGE
        69 => (30, "Read-only file system"),                   // EROFS
        70 => (29, "Illegal seek"),                            // ESPIPE
        71 => (3, "No such process"),                          // ESRCH
        72 => (116, "Stale file handle"),                      // ESTALE
        73 => (110, "Connection timed out"),                   // ETIMEDOUT
        74 => (26, "Text file busy"),                          // ETXTBSY
        75 => (18, "Invalid cross-device link"),               // EXDEV
        _ => return None,
    })
}

/// Natively the system's own words are the reference.
#[cfg(not(target_os = "wasi"))]
fn host_errno(_: i32) -> Option<(i32, &'static str)> {
    None
}
