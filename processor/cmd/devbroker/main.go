// Command devbroker runs franz-go's kfake, an in-process Kafka-protocol
// cluster, on a fixed port: the BROKER=embedded local stack for machines
// without Java. It keeps data in memory only; stopping it loses every record.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/twmb/franz-go/pkg/kfake"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "devbroker:", err)
		os.Exit(1)
	}
}

func run() error {
	port := flag.Int("port", 9092, "listen port on 127.0.0.1")
	partitions := flag.Int("partitions", 8, "default partitions for new topics")
	flag.Parse()
	c, err := kfake.NewCluster(
		kfake.Ports(*port),
		kfake.DefaultNumPartitions(*partitions),
		kfake.AllowAutoTopicCreation(),
	)
	if err != nil {
		return err
	}
	defer c.Close()
	fmt.Printf("kfake listening on %v\n", c.ListenAddrs())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	return nil
}
