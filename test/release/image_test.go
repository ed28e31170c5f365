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

// Package release checks what a release ships: the OCI archive of the
// manager that `make image` builds offline, without Docker, and the forge's
// workflows that build, push and sign it (actionlint).
package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/keypool-dev/keypool-operator/internal/testenv"
)

// TestImageArchive builds the image twice with `make image` and checks that
// both archives are the same bytes (a reproducible digest), that its config
// runs /manager as a non-root user with the OCI labels, that its tag is the
// chart's appVersion, that its root filesystem has no shell, and that the
// binary from it runs (`--help`).
func TestImageArchive(t *testing.T) {
	dir := t.TempDir()
	first, second := filepath.Join(dir, "a.oci.tar"), filepath.Join(dir, "b.oci.tar")
	makeImage(t, first)
	makeImage(t, second)
	a, b := read(t, first), read(t, second)
	if !bytes.Equal(a, b) {
		t.Errorf("two builds of the same sources differ: the image is not reproducible")
	}

	blobs := untar(t, a)
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	unmarshal(t, blobs["index.json"], &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(index.Manifests))
	}
	ref := index.Manifests[0].Annotations["org.opencontainers.image.ref.name"]
	version := appVersion(t)
	if version == "" || version == "latest" || !strings.HasSuffix(ref, ":"+version) {
		t.Errorf("image %q: want the tag to be the chart's appVersion %q (never latest)", ref, version)
	}
	var manifest struct {
		Config struct{ Digest string }   `json:"config"`
		Layers []struct{ Digest string } `json:"layers"`
	}
	unmarshal(t, blob(t, blobs, index.Manifests[0].Digest), &manifest)
	var config struct {
		Architecture, OS string
		Config           struct {
			User       string
			Entrypoint []string
			Labels     map[string]string
		} `json:"config"`
	}
	unmarshal(t, blob(t, blobs, manifest.Config.Digest), &config)
	c := config.Config
	if c.User != "65532:65532" {
		t.Errorf("user %q, want the non-root 65532:65532", c.User)
	}
	if len(c.Entrypoint) != 1 || c.Entrypoint[0] != "/manager" {
		t.Errorf("entrypoint %q, want [/manager]", c.Entrypoint)
	}
	if config.OS != "linux" || config.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", config.OS, config.Architecture)
	}
	for _, l := range []string{"source", "version", "revision", "licenses", "created"} {
		if c.Labels["org.opencontainers.image."+l] == "" {
			t.Errorf("label org.opencontainers.image.%s is missing (labels %v)", l, c.Labels)
		}
	}
	if c.Labels["org.opencontainers.image.version"] != version {
		t.Errorf("version label %q, want %q", c.Labels["org.opencontainers.image.version"], version)
	}

	if len(manifest.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(manifest.Layers))
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(t, blobs, manifest.Layers[0].Digest)))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	rootfs := untar(t, layer)
	for _, shell := range []string{"bin/sh", "bin/bash", "bin/busybox"} {
		if _, ok := rootfs[shell]; ok {
			t.Errorf("the root filesystem has %s: want no shell", shell)
		}
	}
	if !bytes.Contains(rootfs["etc/ssl/certs/ca-certificates.crt"], []byte("BEGIN CERTIFICATE")) {
		t.Error("the root filesystem has no CA bundle at /etc/ssl/certs/ca-certificates.crt")
	}
	if !strings.Contains(string(rootfs["etc/passwd"]), ":65532:65532:") {
		t.Errorf("/etc/passwd names no user 65532: %q", rootfs["etc/passwd"])
	}
	manager := filepath.Join(dir, "manager")
	if err := os.WriteFile(manager, rootfs["manager"], 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(manager, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "-proxy-bind-address") {
		t.Errorf("/manager --help from the image: %v:\n%s", err, out)
	}
}

// makeImage runs `make image` into archive. The revision and the time
// stamp are pinned, so that a commit between the two builds does not count
// as a difference.
func makeImage(t *testing.T, archive string) {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "image", "IMAGE_ARCHIVE="+archive,
		"IMAGE_REVISION=0123456789abcdef0123456789abcdef01234567", "SOURCE_DATE_EPOCH=1700000000")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
}

// appVersion is the chart's appVersion, the default image tag.
func appVersion(t *testing.T) string {
	t.Helper()
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	unmarshalYAML(t, read(t, filepath.Join(testenv.RepoRoot(), "dist/chart/Chart.yaml")), &chart)
	return chart.AppVersion
}

func read(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// untar returns a tar's regular files by name, leading "./" and "/" cut.
func untar(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")] = data
	}
}

// blob is the content of a digest ("sha256:...") in an OCI layout.
func blob(t *testing.T, blobs map[string][]byte, digest string) []byte {
	t.Helper()
	b, ok := blobs["blobs/"+strings.Replace(digest, ":", "/", 1)]
	if !ok {
		t.Fatalf("the archive has no blob %s", digest)
	}
	return b
}

func unmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
}

func unmarshalYAML(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
