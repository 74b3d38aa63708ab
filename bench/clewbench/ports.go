package main

import (
	"flag"
	"fmt"
	"net"
	"strings"
)

// freePorts prints n loopback TCP ports that were free a moment ago, space
// separated, so the bench scripts can start Clew beside other runs (and
// beside tests) without clashing on fixed ports. The listeners are held until
// all n are chosen, so the n differ.
func freePorts(args []string) error {
	fs := flag.NewFlagSet("ports", flag.ContinueOnError)
	n := fs.Int("n", 5, "how many ports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 || *n > 100 {
		return fmt.Errorf("--n %d: want 1 to 100", *n)
	}
	ports := make([]string, 0, *n)
	for range *n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, fmt.Sprint(l.Addr().(*net.TCPAddr).Port))
	}
	fmt.Println(strings.Join(ports, " "))
	return nil
}
