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

package fakeprovider

import (
	"reflect"
	"testing"
)

func TestParseKeys(t *testing.T) {
	got, err := ParseKeys(" key1=orgA, key2=orgA,key3=orgB,solo ,")
	if err != nil {
		t.Fatal(err)
	}
	want := []Key{{Key: "key1", Org: "orgA"}, {Key: "key2", Org: "orgA"}, {Key: "key3", Org: "orgB"}, {Key: "solo", Org: "solo"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	aws, err := ParseKeys("AKIA1:s3cret:eu-west-1=acct,AKIA2:other")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Key{{Key: "AKIA1", Org: "acct", Secret: "s3cret", Region: "eu-west-1"}, {Key: "AKIA2", Org: "AKIA2", Secret: "other"}}; !reflect.DeepEqual(aws, want) {
		t.Errorf("got %v, want %v", aws, want)
	}
	for _, bad := range []string{"", ",", "=orgA", "key1=", "AKIA1:=acct", ":secret"} {
		if _, err := ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) accepted", bad)
		}
	}
}

func TestParseLimits(t *testing.T) {
	got, err := ParseLimits("orgA=rpm:50/itpm:30000/otpm:8000, orgB=RPM:5/tpm:40000")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Limits{
		"orgA": {RPM: 50, ITPM: 30000, OTPM: 8000},
		"orgB": {RPM: 5, TPM: 40000},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got, err := ParseLimits(""); err != nil || len(got) != 0 {
		t.Errorf("empty spec: %v, %v", got, err)
	}
	for _, bad := range []string{"orgA", "=rpm:5", "orgA=rpm", "orgA=rpm:x", "orgA=rpm:-1", "orgA=rps:5", "orgA=rpm:1,orgA=rpm:2"} {
		if _, err := ParseLimits(bad); err == nil {
			t.Errorf("ParseLimits(%q) accepted", bad)
		}
	}
}
