package load

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Process is one process whose memory was measured.
type Process struct {
	PID  int    `json:"pid"`
	Comm string `json:"comm"`
	// PeakRSS is its highest sampled VmRSS and HWM its VmHWM when last read, in bytes.
	PeakRSS int64 `json:"peak_rss_bytes"`
	HWM     int64 `json:"vm_hwm_bytes"`
}

// rescanEvery is how often the sampler looks for new descendants. Finding
// them reads every /proc/N/stat, too much to do at every sample on a busy
// machine while the tool shares the CPUs with the server.
const rescanEvery = 500 * time.Millisecond

// memSampler samples the resident memory of a process and of all its
// descendants: the PID given is often a wrapper (a subshell, `go run`) whose
// child is the server. At each sample it sums their VmRSS.
type memSampler struct {
	root int
	// skip is this process, left out of the tree (with its own descendants)
	// unless it is the root: `--pid $$` from a shell that also started the
	// tool must not measure the tool.
	skip int
	done chan struct{}
	wg   sync.WaitGroup

	mu       sync.Mutex
	members  []int // root and its descendants at the last scan
	lastScan time.Time
	peak     int64 // highest sum of VmRSS over the run
	window   int64 // highest sum since resetWindow
	procs    map[int]*Process
}

func startMemSampler(pid int, every time.Duration) (*memSampler, error) {
	s := &memSampler{root: pid, skip: os.Getpid(), done: make(chan struct{}), procs: map[int]*Process{}}
	if s.skip == pid {
		s.skip = 0
	}
	// The root must be readable at the start; descendants may come and go.
	if _, _, _, err := readStatus(pid); err != nil {
		return nil, fmt.Errorf("server memory: %w", err)
	}
	s.sample()
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.sample() // processes that exited keep their last figures
			}
		}
	})
	return s, nil
}

func (s *memSampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.members == nil || time.Since(s.lastScan) >= rescanEvery {
		if m, err := descendants(s.root, s.skip); err == nil {
			s.members = m
		} else if s.members == nil {
			s.members = []int{s.root}
		}
		s.lastScan = time.Now()
	}
	var sum int64
	for _, pid := range s.members {
		rss, hwm, comm, err := readStatus(pid)
		if err != nil {
			continue // exited since the scan
		}
		p := s.procs[pid]
		if p == nil {
			p = &Process{PID: pid}
			s.procs[pid] = p
		}
		p.Comm = comm
		p.PeakRSS = max(p.PeakRSS, rss)
		p.HWM = max(p.HWM, hwm)
		sum += rss
	}
	s.peak = max(s.peak, sum)
	s.window = max(s.window, sum)
}

func (s *memSampler) resetWindow() {
	s.mu.Lock()
	s.window = 0
	s.mu.Unlock()
	s.sample()
}

func (s *memSampler) windowPeak() int64 {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.window
}

// peaks returns the highest sampled sum of VmRSS, the largest VmHWM of one
// process, in bytes, and the processes measured, by PID.
func (s *memSampler) peaks() (rss, hwm int64, procs []Process) {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		hwm = max(hwm, p.HWM)
		procs = append(procs, *p)
	}
	slices.SortFunc(procs, func(a, b Process) int { return a.PID - b.PID })
	return s.peak, hwm, procs
}

func (s *memSampler) stop() {
	close(s.done)
	s.wg.Wait()
}

// descendants returns root and every process descended from it (found by the
// PPid of every process in /proc), root first, leaving out skip and its own
// descendants.
func descendants(root, skip int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	children := map[int][]int{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		if ppid, ok := parentOf(pid); ok {
			children[ppid] = append(children[ppid], pid)
		}
	}
	out := []int{root}
	for i := 0; i < len(out); i++ {
		for _, c := range children[out[i]] {
			if c != skip && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// parentOf reads the parent PID from /proc/PID/stat ("pid (comm) state ppid ...";
// comm may hold spaces and parentheses, so the fields follow the last ')').
func parentOf(pid int) (int, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false // exited
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// readStatus returns VmRSS and VmHWM of pid in bytes, and its command name.
func readStatus(pid int) (rss, hwm int64, comm string, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		if name == "Name" {
			comm = strings.TrimSpace(rest)
			continue
		}
		if name != "VmRSS" && name != "VmHWM" {
			continue
		}
		fields := strings.Fields(rest) // "123456 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, "", fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, name, rest)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, "", fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, "", err
	}
	if rss == 0 {
		return 0, 0, "", fmt.Errorf("/proc/%d/status has no VmRSS (a kernel thread, a zombie or not Linux?)", pid)
	}
	return rss, hwm, comm, nil
}
