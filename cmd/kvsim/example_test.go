package main

import "fmt"

// A CI matrix of four jobs splits one campaign: each job runs every fourth
// seed of the list, so the shards are about the same size and together
// run every seed once.
func Example_shard() {
	seeds, err := parseSeeds("1-10,20")
	if err != nil {
		panic(err)
	}
	for i := 1; i <= 4; i++ {
		index, count, err := parseShard(fmt.Sprintf("%d/4", i))
		if err != nil {
			panic(err)
		}
		fmt.Printf("kvsim run --seeds 1-10,20 --shard %d/4 runs %v\n", i, shard(seeds, index, count))
	}
	// Output:
	// kvsim run --seeds 1-10,20 --shard 1/4 runs [1 5 9]
	// kvsim run --seeds 1-10,20 --shard 2/4 runs [2 6 10]
	// kvsim run --seeds 1-10,20 --shard 3/4 runs [3 7 20]
	// kvsim run --seeds 1-10,20 --shard 4/4 runs [4 8]
}
