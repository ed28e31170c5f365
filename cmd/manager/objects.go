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

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/go-logr/logr"

	"github.com/keypool-dev/keypool-operator/internal/objectid"
)

// mustObjectSealer is objectSealer, or the end of the process when the
// secret is there but cannot be used.
func mustObjectSealer(setupLog logr.Logger, path string) *objectid.Sealer {
	s, err := objectSealer(path)
	if err != nil {
		setupLog.Error(err, "unable to load the object ID secret")
		os.Exit(1)
	}
	setupLog.Info("object APIs", "enabled", s != nil)
	return s
}

// objectSealer reads the installation's object ID secret from path (the
// install mounts it from the Secret keypool-object-ids, which every replica
// shares and which outlives restarts). No path, or no file there, leaves the
// object APIs off (nil): the proxy refuses them rather than hand out IDs
// that the next restart could not open.
func objectSealer(path string) (*objectid.Sealer, error) {
	if path == "" {
		return nil, nil
	}
	secret, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read object id secret: %w", err)
	}
	s, err := objectid.New(bytes.TrimSpace(secret))
	if err != nil {
		return nil, fmt.Errorf("object id secret %s: %w", path, err)
	}
	return s, nil
}
