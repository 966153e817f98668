package load

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memSampler samples a process's resident memory from /proc/PID/status.
type memSampler struct {
	pid  int
	done chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	peak   int64 // highest VmRSS over the run
	window int64 // highest VmRSS since resetWindow
	hwm    int64 // last VmHWM read
}

func startMemSampler(pid int, every time.Duration) (*memSampler, error) {
	s := &memSampler{pid: pid, done: make(chan struct{})}
	if err := s.sample(); err != nil {
		return nil, fmt.Errorf("server memory: %w", err)
	}
	s.wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.done:
				return
			case <-t.C:
				s.sample() // a process that exited keeps its last figures
			}
		}
	})
	return s, nil
}

func (s *memSampler) sample() error {
	rss, hwm, err := readStatus(s.pid)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.peak = max(s.peak, rss)
	s.window = max(s.window, rss)
	s.hwm = max(s.hwm, hwm)
	s.mu.Unlock()
	return nil
}

func (s *memSampler) resetWindow() {
	s.sample()
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

// peaks returns the highest sampled VmRSS and the VmHWM, in bytes.
func (s *memSampler) peaks() (rss, hwm int64) {
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.hwm
}

func (s *memSampler) stop() {
	close(s.done)
	s.wg.Wait()
}

// readStatus returns VmRSS and VmHWM of pid in bytes.
func readStatus(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "VmRSS" && name != "VmHWM") {
			continue
		}
		fields := strings.Fields(rest) // "123456 kB"
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, 0, fmt.Errorf("/proc/%d/status: unexpected %s line %q", pid, name, rest)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, name, err)
		}
		if name == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status has no VmRSS (a kernel thread or not Linux?)", pid)
	}
	return rss, hwm, nil
}
