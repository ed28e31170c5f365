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

package controller

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

// Leader election timings, as controller-runtime's defaults.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// inClusterNamespaceFile holds the pod's namespace in a cluster.
const inClusterNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// LeaderElection makes the status publisher the only writer among replicas.
//
// It is the publisher's own, not the manager's: controller-runtime ends the
// whole manager when a leader cannot renew its Lease (an API server outage
// of ten seconds is enough), and with it the proxy, which needs no API
// server to serve the pools it has. Here a replica that loses the Lease
// only stops writing, and campaigns again.
type LeaderElection struct {
	Client    kubernetes.Interface
	Namespace string // "" = the pod's namespace
	Name      string // the Lease's name
}

// config builds client-go's election config, with run called while leading.
func (le *LeaderElection) config(log logr.Logger, run func(context.Context)) (leaderelection.LeaderElectionConfig, error) {
	ns := le.Namespace
	if ns == "" {
		b, err := os.ReadFile(inClusterNamespaceFile)
		if err != nil {
			return leaderelection.LeaderElectionConfig{}, fmt.Errorf(
				"leader election needs a namespace outside a cluster (--leader-election-namespace): %w", err)
		}
		ns = strings.TrimSpace(string(b))
	}
	host, err := os.Hostname()
	if err != nil {
		return leaderelection.LeaderElectionConfig{}, fmt.Errorf("getting hostname: %w", err)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: ns, Name: le.Name},
		Client:     le.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: host + "_" + string(uuid.NewUUID())},
	}
	return leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   leaseDuration,
		RenewDeadline:   renewDeadline,
		RetryPeriod:     retryPeriod,
		ReleaseOnCancel: true,
		Name:            le.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: run,
			OnStoppedLeading: func() { log.Info("not leading: status and Events are written by another replica") },
		},
	}, nil
}

// campaign runs run while this replica leads, and campaigns again whenever
// it stops leading, until ctx is done.
func (le *LeaderElection) campaign(ctx context.Context, log logr.Logger, run func(context.Context)) error {
	cfg, err := le.config(log, run)
	if err != nil {
		return err
	}
	ctx = logr.NewContext(ctx, log)
	for ctx.Err() == nil {
		// A fresh elector per term: one that lost its Lease starts clean.
		elector, err := leaderelection.NewLeaderElector(cfg)
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		elector.Run(ctx) // returns when leadership is lost or ctx is done
	}
	return nil
}
