//go:build windows

package procgroup

import (
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// KillsGroup: on Windows, Kill terminates the job object of a command
// started by Run, which holds every process the command started (child
// processes join their parent's job). A command started otherwise has no
// job, and only its own process is killed.
const KillsGroup = true

// jobs maps a command started by Run to its job object until Run returns.
var jobs sync.Map // *exec.Cmd -> windows.Handle

// Isolate gives cmd its own console process group, so a console signal
// meant for the agent does not reach the script. The job object that
// makes Kill reach the script's children is set up by Run.
func Isolate(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= windows.CREATE_NEW_PROCESS_GROUP
}

// Kill terminates cmd's job, and with it every process in it; without a
// job (not started by Run, or killed before its job was made, while it
// was still suspended and had started nothing) it kills cmd's process.
func Kill(cmd *exec.Cmd) error {
	if job, ok := jobs.Load(cmd); ok {
		return windows.TerminateJobObject(job.(windows.Handle), 1)
	}
	return cmd.Process.Kill()
}

// start starts cmd suspended, puts it in a new job object and resumes it,
// so that it cannot start a process before it is in the job. Processes
// stay in the job after cmd exits; the job ends when they all have and
// release has closed its handle (no kill-on-close: a script may leave a
// daemon running, as on Unix, where only a timeout kills the group).
func start(cmd *exec.Cmd) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= windows.CREATE_SUSPENDED
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := uint32(cmd.Process.Pid)
	job, err := newJobWith(pid)
	if err != nil {
		// Still suspended: it has run nothing and started nothing.
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return fmt.Errorf("put %s in a job object: %w", cmd.Path, err)
	}
	jobs.Store(cmd, job)
	if err := resumeThreads(pid); err != nil {
		_ = windows.TerminateJobObject(job, 1)
		_ = cmd.Wait()
		release(cmd)
		return fmt.Errorf("resume %s: %w", cmd.Path, err)
	}
	return nil
}

// release closes cmd's job handle once cmd has exited.
func release(cmd *exec.Cmd) {
	if job, ok := jobs.LoadAndDelete(cmd); ok {
		_ = windows.CloseHandle(job.(windows.Handle))
	}
}

// newJobWith makes a job object and assigns process pid to it. Jobs nest
// (Windows 8 and later), so this works when the agent itself runs in a
// job, as services and some terminals do.
func newJobWith(pid uint32) (windows.Handle, error) {
	proc, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, pid)
	if err != nil {
		return 0, fmt.Errorf("open process %d: %w", pid, err)
	}
	defer windows.CloseHandle(proc)
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return 0, fmt.Errorf("create job object: %w", err)
	}
	if err := windows.AssignProcessToJobObject(job, proc); err != nil {
		_ = windows.CloseHandle(job)
		return 0, fmt.Errorf("assign process %d: %w", pid, err)
	}
	return job, nil
}

// resumeThreads resumes the threads of the suspended process pid. os/exec
// closes the main thread's handle that CreateProcess returned, so the
// threads are found in a snapshot (a new process has just the one).
func resumeThreads(pid uint32) error {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return fmt.Errorf("thread snapshot: %w", err)
	}
	defer windows.CloseHandle(snap)
	entry := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	resumed := 0
	for err = windows.Thread32First(snap, &entry); err == nil; err = windows.Thread32Next(snap, &entry) {
		if entry.OwnerProcessID != pid {
			continue
		}
		th, oerr := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, entry.ThreadID)
		if oerr != nil {
			return fmt.Errorf("open thread %d: %w", entry.ThreadID, oerr)
		}
		_, rerr := windows.ResumeThread(th)
		_ = windows.CloseHandle(th)
		if rerr != nil {
			return fmt.Errorf("resume thread %d: %w", entry.ThreadID, rerr)
		}
		resumed++
	}
	if !errors.Is(err, windows.ERROR_NO_MORE_FILES) {
		return fmt.Errorf("walk threads: %w", err)
	}
	if resumed == 0 {
		return fmt.Errorf("process %d has no thread to resume", pid)
	}
	return nil
}
