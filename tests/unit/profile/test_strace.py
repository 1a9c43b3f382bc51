"""Parsing real `strace -f -y` output of a sandboxed run (lines as strace 6.1 prints them)."""

from __future__ import annotations

from honed.profile.strace import Access, parse

INIT = 100
TRACE = r"""100 chdir("/app")                     = 0
100 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x7f) = 2
101 openat(3</proc>, "self/fd", O_RDONLY|O_NOCTTY|O_NONBLOCK|O_CLOEXEC|O_DIRECTORY) = 4</proc/100/fd>
101 execve("/usr/local/bin/python3", ["python3"], 0x7ffc /* 3 vars */) = -1 ENOENT (No such file or directory)
100 wait4(-1,  <unfinished ...>
101 execve("/usr/bin/python3", ["python3", "x.py"], 0x7ffc /* 38 vars */) = 0
101 access("/etc/ld.so.preload", R_OK) = -1 ENOENT (No such file or directory)
101 openat(AT_FDCWD</app>, "/etc/ld.so.cache", O_RDONLY|O_CLOEXEC) = 3</etc/ld.so.cache>
101 newfstatat(3</etc/ld.so.cache>, "", {st_mode=S_IFREG|0644, st_size=7151, ...}, AT_EMPTY_PATH) = 0
101 readlink("/usr/bin/python3", "python3.11", 4096) = 10
101 openat(AT_FDCWD</app>, "x.py", O_RDONLY|O_CLOEXEC) = 3</app/x.py>
101 newfstatat(3</usr/lib/python3.11>, "enum.py", {st_mode=S_IFREG|0644, st_size=1, ...}, 0) = 0
101 openat(AT_FDCWD</app>, "/usr/share/caf\303\251 \"q\".txt", O_RDONLY) = -1 ENOENT (No such file or directory)
101 clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD, child_tidptr=0x7f) = 7
102 chdir("/tmp") = 0
102 stat("rel", 0x7ffd) = -1 ENOTDIR (Not a directory)
102 execve("/bin/sh", ["sh", "-c", "x"], 0x7f /* 3 vars */ <unfinished ...>
101 openat(AT_FDCWD</app>, "/etc/passwd", O_RDONLY <unfinished ...>
102 <... execve resumed>)                  = 0
101 <... openat resumed>) = 5</etc/passwd>
102 +++ exited with 0 +++
100 <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 2
"""


def test_parse_keeps_only_the_apps_calls_with_absolute_paths() -> None:
    got = list(parse(TRACE.splitlines(keepends=True), initial_cwd="/app", init_pid=INIT))
    assert got == [
        Access(101, "exec", "/usr/bin/python3", None),
        Access(101, "lookup", "/etc/ld.so.preload", "ENOENT"),
        Access(101, "open", "/etc/ld.so.cache", None),
        Access(101, "lookup", "/usr/bin/python3", None),
        Access(101, "open", "/app/x.py", None),
        Access(101, "lookup", "/usr/lib/python3.11/enum.py", None),
        Access(101, "open", '/usr/share/café "q".txt', "ENOENT"),
        Access(102, "lookup", "/tmp/rel", "ENOTDIR"),
        Access(102, "exec", "/bin/sh", None),
        Access(101, "open", "/etc/passwd", None),
    ]


def test_nothing_counts_before_the_first_exec() -> None:
    pre = "\n".join(TRACE.splitlines()[:5])
    assert list(parse(pre.splitlines(), init_pid=INIT)) == []
