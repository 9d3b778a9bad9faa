"""What an unprivileged user may do in a folder (tests/fs/metadata_test.cc).

Run as that user (setpriv) with BASE and a phase; prints one line per
operation: its outcome (ok, or the errno's name) and what it reads back.
The test compares the lines for a native folder and a ciuicfs mount with
--allow-other (so the kernel checks permissions, default_permissions).
"setup" (as root) lays out what the others use; "act" changes things;
"check" only looks, and runs again after a remount.
"""
import errno
import os
import stat
import struct
import sys


def attempt(name, fn):
    try:
        got = fn()
        print(name, "ok", "" if got is None else got)
    except OSError as e:
        print(name, errno.errorcode.get(e.errno, str(e.errno)))


def read(path):
    with open(path, "rb") as f:
        return f.read().decode()


def write(path, text, mode="w"):
    with open(path, mode) as f:
        f.write(text)


def owner(path):
    st = os.lstat(path)
    return "%d:%d %o" % (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))


def setup(b):
    os.mkdir(b + "/closed", 0o755)
    os.mkdir(b + "/open", 0o777)
    os.chmod(b + "/open", 0o777)
    os.mkdir(b + "/sticky", 0o777)
    os.chmod(b + "/sticky", 0o1777)
    write(b + "/secret", "root only")
    os.chmod(b + "/secret", 0o600)
    write(b + "/public", "for all")
    os.chmod(b + "/public", 0o644)
    write(b + "/sticky/roots", "mine")
    os.chmod(b + "/sticky/roots", 0o666)


def act(b):
    attempt("create in a closed folder", lambda: write(b + "/closed/x", "x"))
    attempt("mkdir in a closed folder", lambda: os.mkdir(b + "/closed/d"))
    attempt("write another's file", lambda: write(b + "/public", "changed", "a"))
    attempt("chmod another's file", lambda: os.chmod(b + "/public", 0o666))
    attempt("chown another's file", lambda: os.chown(b + "/public", os.getuid(), -1))
    attempt("create in an open folder", lambda: write(b + "/open/mine", "mine"))
    attempt("owner of what it made", lambda: owner(b + "/open/mine"))
    attempt("chmod its own file", lambda: os.chmod(b + "/open/mine", 0o600))
    attempt("chown its own file to root", lambda: os.chown(b + "/open/mine", 0, 0))
    attempt("mkdir in an open folder", lambda: os.mkdir(b + "/open/sub", 0o700))
    attempt("mkfifo in an open folder", lambda: os.mkfifo(b + "/open/pipe", 0o600))
    attempt("symlink in an open folder", lambda: os.symlink("mine", b + "/open/ln"))
    attempt("times of its own file", lambda: os.utime(b + "/open/mine", ns=(10**12, 2 * 10**12)))
    attempt("times of another's file", lambda: os.utime(b + "/public", ns=(10**12, 2 * 10**12)))
    attempt("touch another's file", lambda: os.utime(b + "/public"))
    attempt("setxattr on its own file", lambda: os.setxattr(b + "/open/mine", "user.k", b"v"))
    attempt("setxattr on another's file", lambda: os.setxattr(b + "/public", "user.k", b"v"))
    attempt("trusted xattr", lambda: os.setxattr(b + "/open/mine", "trusted.k", b"v"))
    attempt("link its own file", lambda: os.link(b + "/open/mine", b + "/open/hard"))
    attempt("link another's file", lambda: os.link(b + "/public", b + "/open/theirs"))
    attempt("rename its own file", lambda: os.rename(b + "/open/mine", b + "/open/mine2"))
    attempt("unlink another's file in a sticky folder", lambda: os.unlink(b + "/sticky/roots"))
    attempt("create in a sticky folder", lambda: write(b + "/sticky/own", "own"))
    attempt("unlink its own file in a sticky folder", lambda: os.unlink(b + "/sticky/own"))
    attempt("rmdir a closed folder", lambda: os.rmdir(b + "/closed"))


def check(b):
    # (mtime only: a read moves a native atime, relatime)
    attempt("mtime of its own file", lambda: os.stat(b + "/open/mine2").st_mtime_ns)
    attempt("read a secret file", lambda: read(b + "/secret"))
    attempt("read a public file", lambda: read(b + "/public"))
    attempt("list a closed folder", lambda: sorted(os.listdir(b + "/closed")))
    attempt("list an open folder", lambda: sorted(os.listdir(b + "/open")))
    attempt("its own file", lambda: owner(b + "/open/mine2") + " " + read(b + "/open/mine2"))
    attempt("its hard link", lambda: "%s nlink=%d same=%s" % (read(b + "/open/hard"), os.stat(b + "/open/hard").st_nlink,
                                                              os.stat(b + "/open/hard").st_ino == os.stat(b + "/open/mine2").st_ino))
    attempt("its folder", lambda: owner(b + "/open/sub"))
    attempt("its FIFO", lambda: owner(b + "/open/pipe") + " fifo=%s" % stat.S_ISFIFO(os.lstat(b + "/open/pipe").st_mode))
    attempt("its xattr", lambda: os.getxattr(b + "/open/mine2", "user.k").decode())
    attempt("the sticky folder", lambda: sorted(os.listdir(b + "/sticky")))


# Set-ID bits and file capabilities: what a write, a truncate and a chown
# leave of them, by an unprivileged user ("setid-act") and by root
# ("setid-root"); "setid-setup" and "setid-check" run as root.
SETID_FILES = {"w-ugx": 0o6777, "w-g-nox": 0o6767, "t-path": 0o4777, "t-open": 0o4777, "t-fd": 0o4777,
               "w-root": 0o6777, "chown": 0o6755, "cap-w": 0o755, "cap-chown": 0o755, "cap-t": 0o755}
# A version 2 file capability (VFS_CAP_REVISION_2, effective) granting CAP_NET_RAW.
CAPABILITY = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


def setid_setup(b):
    os.mkdir(b + "/setid", 0o777)
    os.chmod(b + "/setid", 0o777)
    for name, mode in SETID_FILES.items():
        write(b + "/setid/" + name, "content")
        os.chmod(b + "/setid/" + name, mode)
        if name.startswith("cap-"):
            os.setxattr(b + "/setid/" + name, "security.capability", CAPABILITY)


def setid_act(b):
    d = b + "/setid/"
    attempt("append to a set-ID file", lambda: write(d + "w-ugx", "+more", "a"))
    attempt("append where the group may not execute", lambda: write(d + "w-g-nox", "+more", "a"))
    attempt("truncate a set-ID file by path", lambda: os.truncate(d + "t-path", 2))
    attempt("open a set-ID file with O_TRUNC", lambda: write(d + "t-open", "new"))
    attempt("ftruncate a set-ID file", lambda: fd_truncate(d + "t-fd"))
    # Its own file, made set-user-ID while it is open for writing.
    attempt("chmod u+s of its own open file, then write", lambda: write_after_chmod(d + "own"))


def fd_truncate(path):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, 3)
    finally:
        os.close(fd)


def write_after_chmod(path):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o755)
    try:
        os.write(fd, b"first")
        os.fchmod(fd, 0o4755)
        os.write(fd, b" second")
    finally:
        os.close(fd)


def setid_root(b):
    d = b + "/setid/"
    attempt("root appends to a set-ID file", lambda: write(d + "w-root", "+more", "a"))
    attempt("root chowns a set-ID file", lambda: os.chown(d + "chown", 65534, -1))
    attempt("root appends to a file with a capability", lambda: write(d + "cap-w", "+more", "a"))
    attempt("root chowns a file with a capability", lambda: os.chown(d + "cap-chown", 65534, -1))
    attempt("root truncates a file with a capability", lambda: os.truncate(d + "cap-t", 1))


def capability(path):
    try:
        return os.getxattr(path, "security.capability") == CAPABILITY
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))


def setid_check(b):
    for name in sorted(list(SETID_FILES) + ["own"]):
        p = b + "/setid/" + name
        attempt(name, lambda: "%s %r capability=%s" % (owner(p), read(p), capability(p)))


{"setup": setup, "act": act, "check": check, "setid-setup": setid_setup, "setid-act": setid_act,
 "setid-root": setid_root, "setid-check": setid_check}[sys.argv[2]](sys.argv[1])
