package main

import (
	"fmt"
	"syscall"
	"unsafe"

	"github.com/healthsim/healthsim-go/internal/sys/process"
	"golang.org/x/sys/windows"
)

// The Restart Manager names the processes that have a file open; DuckDB
// asks it too when it cannot open a database.
var (
	rstrtmgr                = windows.NewLazySystemDLL("rstrtmgr.dll")
	procRmStartSession      = rstrtmgr.NewProc("RmStartSession")
	procRmRegisterResources = rstrtmgr.NewProc("RmRegisterResources")
	procRmGetList           = rstrtmgr.NewProc("RmGetList")
	procRmEndSession        = rstrtmgr.NewProc("RmEndSession")
)

// rmProcessInfo is RM_PROCESS_INFO.
type rmProcessInfo struct {
	PID              uint32
	StartTime        windows.Filetime
	AppName          [256]uint16 // CCH_RM_MAX_APP_NAME + 1
	ServiceShortName [64]uint16  // CCH_RM_MAX_SVC_NAME + 1
	AppType          uint32
	AppStatus        uint32
	TSSessionID      uint32
	Restartable      int32
}

// fileHolders lists the processes that have the file at path open, from
// the Restart Manager. Windows does not say which of them opened it
// read-only.
func fileHolders(path string) ([]Holder, string, error) {
	var session uint32
	var key [33]uint16 // CCH_RM_SESSION_KEY + 1
	if r, _, _ := procRmStartSession.Call(uintptr(unsafe.Pointer(&session)), 0, uintptr(unsafe.Pointer(&key[0]))); r != 0 {
		return nil, "", fmt.Errorf("cannot ask Windows who has %s open (RmStartSession): %w", path, syscall.Errno(r))
	}
	defer procRmEndSession.Call(uintptr(session))
	name, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, "", err
	}
	if r, _, _ := procRmRegisterResources.Call(uintptr(session), 1, uintptr(unsafe.Pointer(&name)), 0, 0, 0, 0); r != 0 {
		return nil, "", fmt.Errorf("cannot ask Windows who has %s open (RmRegisterResources): %w", path, syscall.Errno(r))
	}
	var infos []rmProcessInfo
	for {
		var needed, reasons uint32
		n := uint32(len(infos))
		var buf uintptr
		if n > 0 {
			buf = uintptr(unsafe.Pointer(&infos[0]))
		}
		r, _, _ := procRmGetList.Call(uintptr(session), uintptr(unsafe.Pointer(&needed)), uintptr(unsafe.Pointer(&n)), buf, uintptr(unsafe.Pointer(&reasons)))
		if r == 0 {
			infos = infos[:n]
			break
		}
		if syscall.Errno(r) != windows.ERROR_MORE_DATA {
			return nil, "", fmt.Errorf("cannot ask Windows who has %s open (RmGetList): %w", path, syscall.Errno(r))
		}
		infos = make([]rmProcessInfo, needed+1) // processes may come meanwhile
	}
	var holders []Holder
	for _, info := range infos {
		exe := process.Exe(int(info.PID))
		if exe == "" {
			exe = windows.UTF16ToString(info.AppName[:])
		}
		holders = append(holders, Holder{PID: int(info.PID), Exe: exe})
	}
	if len(holders) == 0 {
		return nil, "", nil
	}
	return holders, "Windows does not say whether each opened the file read-only or read-write.", nil
}
