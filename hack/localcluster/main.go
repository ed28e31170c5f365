/*
Copyright 2026 The keypool-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command localcluster is what `make run` uses when no cluster is reachable:
// it starts a local control plane (kube-apiserver and etcd from the envtest
// assets) with the KeyPool CRD installed, writes its kubeconfig, prints the
// kubectl commands to try the operator, and runs the manager against it
// until interrupted. Ctrl-C stops the manager, then the control plane.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

func main() {
	assets := flag.String("assets", testenv.AssetsDir(), "folder with kube-apiserver, etcd and kubectl")
	manager := flag.String("manager", "bin/manager", "the manager binary to run")
	kubeconfig := flag.String("kubeconfig-out", "bin/local/kubeconfig", "where to write the local cluster's kubeconfig")
	flag.Parse()
	if err := run(*assets, *manager, *kubeconfig, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "localcluster:", err)
		os.Exit(1)
	}
}

func run(assets, manager, kubeconfig string, managerArgs []string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Println("localcluster: no cluster reachable; starting a local control plane from", assets)
	env, _, err := testenv.StartWith(assets, []string{filepath.Join("config", "crd", "bases")})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("localcluster: stopping the control plane")
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "localcluster: stopping control plane:", err)
		}
	}()
	if err := testenv.WriteAdminKubeconfig(env, kubeconfig); err != nil {
		return err
	}
	abs, _ := filepath.Abs(kubeconfig)
	kubectl := filepath.Join(assets, "kubectl")
	fmt.Printf(`localcluster: control plane ready; kubeconfig written to %[1]s
Try the operator from another terminal:
  %[2]s --kubeconfig %[1]s apply -f config/samples/demo/
  %[2]s --kubeconfig %[1]s get keypools -A
(see docs/getting-started.md: the sample pool's upstream is the fake provider, `+"`make fake-provider`"+`)
`, abs, kubectl)

	cmd := exec.CommandContext(ctx, manager, managerArgs...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+abs)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	// On Ctrl-C the manager gets SIGTERM and its shutdown grace, then the
	// control plane stops.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	err = cmd.Run()
	if ctx.Err() != nil {
		return nil // interrupted: a clean stop
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("manager exited: %w", err)
	}
	return err
}
