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

// Package testenv starts a real control plane (kube-apiserver and etcd from
// the envtest assets) with the project's CRDs installed, for tests.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	llmv1alpha1 "github.com/keypool-dev/keypool-operator/api/v1alpha1"
)

// K8sVersion must match ENVTEST_K8S_VERSION in the Makefile.
const K8sVersion = "1.37.2"

// RepoRoot is the project's root folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// AssetsDir is where `make envtest` puts kube-apiserver, etcd and kubectl,
// unless KUBEBUILDER_ASSETS names another folder.
func AssetsDir() string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(RepoRoot(), "bin", "k8s", K8sVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH)
}

// Start starts a control plane with the KeyPool CRD installed and the
// KeyPool types added to client-go's scheme. The caller must Stop it.
func Start() (*envtest.Environment, *rest.Config, error) {
	return StartWith(AssetsDir(), []string{filepath.Join(RepoRoot(), "config", "crd", "bases")})
}

// StartWith starts a control plane from the binaries in assets, installing
// the CRDs found in crdDirs (none when empty).
func StartWith(assets string, crdDirs []string) (*envtest.Environment, *rest.Config, error) {
	if _, err := os.Stat(filepath.Join(assets, "kube-apiserver")); err != nil {
		return nil, nil, fmt.Errorf("envtest assets missing in %s (run `make envtest`): %w", assets, err)
	}
	if err := llmv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return nil, nil, fmt.Errorf("adding keypool types to scheme: %w", err)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     crdDirs,
		ErrorIfCRDPathMissing: len(crdDirs) > 0,
		BinaryAssetsDirectory: assets,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting envtest: %w", err)
	}
	return env, cfg, nil
}

// WriteAdminKubeconfig writes a kubeconfig for a cluster-admin user of env to
// path, for kubectl and the manager binary.
func WriteAdminKubeconfig(env *envtest.Environment, path string) error {
	user, err := env.AddUser(envtest.User{Name: "keypool-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("adding admin user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return fmt.Errorf("making kubeconfig: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating kubeconfig folder: %w", err)
	}
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		return fmt.Errorf("writing kubeconfig: %w", err)
	}
	return nil
}
