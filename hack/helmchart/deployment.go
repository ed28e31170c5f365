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
	"fmt"
	"strconv"
	"strings"
)

// container returns the Deployment's manager container.
func container(o object) (map[string]any, error) {
	spec := mapAt(mapAt(mapAt(o, "spec"), "template"), "spec")
	containers, _ := spec["containers"].([]any)
	for _, c := range containers {
		if c, ok := c.(map[string]any); ok && c["name"] == "manager" {
			return c, nil
		}
	}
	return nil, fmt.Errorf("deployment has no container named manager")
}

// defaults reads the values.yaml defaults from the built Deployment, before
// it is edited.
func defaults(o object) (values, error) {
	c, err := container(o)
	if err != nil {
		return values{}, err
	}
	v := values{Replicas: mapAt(o, "spec")["replicas"]}
	image, _ := c["image"].(string)
	at := strings.LastIndex(image, ":")
	if at < 0 {
		return values{}, fmt.Errorf("image %q has no tag", image)
	}
	v.Repository = image[:at]
	if v.Resources, err = toYAML(c["resources"], "    "); err != nil {
		return values{}, err
	}
	for _, a := range c["args"].([]any) {
		if s, ok := a.(string); ok && strings.HasPrefix(s, "--allowed-upstreams=") {
			v.AllowedUpstreams = strings.Split(strings.TrimPrefix(s, "--allowed-upstreams="), ",")
		}
	}
	if v.AllowedUpstreams == nil {
		return values{}, fmt.Errorf("manager container lacks --allowed-upstreams")
	}
	return v, nil
}

// editDeployment puts the values into the manager's Deployment. An argument
// the chart does not know stays as kustomize has it.
func editDeployment(o object) error {
	spec := mapAt(o, "spec")
	spec["replicas"] = inl("replicas")
	pod := mapAt(mapAt(spec, "template"), "spec")
	mapAt(mapAt(mapAt(spec, "template"), "metadata"), "annotations")[blk("podAnnotations")] = ""
	for _, k := range []string{"nodeSelector", "affinity", "tolerations", "imagePullSecrets"} {
		if _, ok := pod[k]; ok {
			return fmt.Errorf("pod spec has %s already: template it in hack/helmchart", k)
		}
		pod[k] = blk(k)
	}
	vols, _ := pod["volumes"].([]any)
	pod["volumes"] = append(vols, blk("redisVolumes"))
	c, err := container(o)
	if err != nil {
		return err
	}
	c["image"] = inl("image")
	c["imagePullPolicy"] = blk("pullPolicy")
	c["resources"] = blk("resources")
	mounts, _ := c["volumeMounts"].([]any)
	c["volumeMounts"] = append(mounts, blk("redisMounts"))
	suffix := ":" + strconv.Itoa(proxyPort)
	var args []any
	for _, a := range c["args"].([]any) {
		s, _ := a.(string)
		switch {
		case s == "--leader-elect":
			a = blk("leaderElect")
		case s == "--metrics-bind-address=:8443":
			a = blk("metricsAddr")
		case strings.HasPrefix(s, "--allowed-upstreams="):
			a = "--allowed-upstreams=" + inl("allowedUpstreams")
		case strings.HasPrefix(s, "--proxy-service-url="):
			if !strings.HasSuffix(s, suffix) {
				return fmt.Errorf("%s does not end in the proxy port %s", s, suffix)
			}
			a = strings.TrimSuffix(s, suffix) + ":" + inl("proxyPort")
		}
		args = append(args, a)
	}
	c["args"] = append(args, blk("watchNamespaces"), blk("redisArgs"), blk("extraArgs"))
	c["env"] = append(c["env"].([]any), blk("redisEnv"), blk("extraEnv"))
	return nil
}

// editProxyService puts the Service's type, port and annotations.
func editProxyService(o object) error {
	spec := mapAt(o, "spec")
	spec["type"] = inl("proxyType")
	ports, _ := spec["ports"].([]any)
	if len(ports) != 1 {
		return fmt.Errorf("proxy Service has %d ports, want 1", len(ports))
	}
	port := ports[0].(map[string]any)
	if fmt.Sprint(port["port"]) != strconv.Itoa(proxyPort) {
		return fmt.Errorf("proxy Service port %v, want %d", port["port"], proxyPort)
	}
	port["port"] = inl("proxyPort")
	meta(o)["annotations"] = blk("serviceAnnotations")
	return nil
}
