package nemesis_test

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/kvdlabs/kvd/nemesis"
)

// A seed becomes a schedule of faults, JSON that can be saved beside a
// failing run, edited, and read back.
func Example() {
	s := nemesis.Generate(2, nemesis.GenerateOptions{
		Nodes:    []uint64{1, 2, 3},
		Duration: 30 * time.Second,
		Profile:  "crash",
	})
	fmt.Println("seed", s.Seed, s.Swarm)

	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err)
	}
	fmt.Println(string(data))

	back, err := nemesis.ParseSchedule(data)
	if err != nil {
		panic(err)
	}
	ok, _ := back.WithinBudget()
	fmt.Println("faults:", len(back.Faults), "within budget:", ok)
	// Output:
	// seed 2 settle=10s budget=minority dropped=0 kinds=4 members=snapshot-catchup=5,watch-catchup-batch=2,history-chunk-bytes=16384,wal-preallocate-bytes=512 | crash-restart rate=2.49/min window=1.467s auto=0.27 | crash-lose-unsynced rate=0.97/min window=5.901s auto=0.99 | graceful-restart rate=4.73/min window=7.674s auto=0.77 | pause rate=1.86/min window=2.68s auto=0.43
	// {
	//   "seed": 2,
	//   "profile": "crash",
	//   "nodes": [
	//     1,
	//     2,
	//     3
	//   ],
	//   "duration": "30s",
	//   "swarm": {
	//     "settle": "10s",
	//     "kinds": [
	//       {
	//         "kind": "crash-restart",
	//         "faults_per_minute": 2.49,
	//         "window_mean": "1.467s",
	//         "targets_auto_probability": 0.27
	//       },
	//       {
	//         "kind": "crash-lose-unsynced",
	//         "faults_per_minute": 0.97,
	//         "window_mean": "5.901s",
	//         "targets_auto_probability": 0.99
	//       },
	//       {
	//         "kind": "graceful-restart",
	//         "faults_per_minute": 4.73,
	//         "window_mean": "7.674s",
	//         "targets_auto_probability": 0.77
	//       },
	//       {
	//         "kind": "pause",
	//         "faults_per_minute": 1.86,
	//         "window_mean": "2.68s",
	//         "targets_auto_probability": 0.43
	//       }
	//     ],
	//     "members": "snapshot-catchup=5,watch-catchup-batch=2,history-chunk-bytes=16384,wal-preallocate-bytes=512"
	//   },
	//   "faults": [
	//     {
	//       "at": "10.43s",
	//       "kind": "crash-restart",
	//       "targets": [
	//         3
	//       ],
	//       "until": "12.447s"
	//     },
	//     {
	//       "at": "16.663s",
	//       "kind": "crash-restart",
	//       "targets": [
	//         2
	//       ],
	//       "until": "18.272s"
	//     },
	//     {
	//       "at": "18.685s",
	//       "kind": "crash-restart",
	//       "targets": [
	//         2
	//       ],
	//       "until": "19.651s"
	//     }
	//   ]
	// }
	// faults: 3 within budget: true
}
