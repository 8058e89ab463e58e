package load

import (
	"os"
	"runtime/pprof"
)

// StartCPUProfile writes this process's CPU profile to path until stop is
// called: where the load generator's own CPU goes during a load.
func StartCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}
