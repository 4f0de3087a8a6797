package main

import (
	"os"
	"path/filepath"
	"syscall"
)

// A launcher removes its directory on every way out it sees, but not when it is killed with
// SIGKILL itself. So each directory holds a lock file that its launcher keeps flock(2)ed while it
// runs (the kernel drops the lock when the process dies, however it dies), and every launcher
// first removes the directories whose lock it can take: their owners are gone.
const lockName = ".launcher.lock"

// makeOwnedTempDir creates a temporary directory and locks it; release unlocks it.
func makeOwnedTempDir(prefix string) (dir string, release func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	lock, err := os.Create(filepath.Join(dir, lockName))
	if err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	if err = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		os.RemoveAll(dir)
		return "", nil, err
	}
	// Written once locked: an empty lock file is one whose owner has not locked it yet.
	if _, err = lock.WriteString("locked\n"); err != nil {
		lock.Close()
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, func() { lock.Close() }, nil
}

// removeAbandonedDirs removes the directories of launchers that died without cleaning up.
func removeAbandonedDirs() {
	for _, pattern := range []string{"ferretdb-postgresql-*", "ferretdb-sqlite-*"} {
		dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), pattern))
		for _, dir := range dirs {
			if abandoned(dir) {
				os.RemoveAll(dir)
			}
		}
	}
}

func abandoned(dir string) bool {
	lock, err := os.Open(filepath.Join(dir, lockName))
	if err != nil {
		return false // not ours, or not locked yet
	}
	defer lock.Close()
	if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false // its launcher runs
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	info, err := lock.Stat()
	return err == nil && info.Size() > 0
}
