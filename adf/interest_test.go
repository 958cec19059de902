package adf_test

import (
	"reflect"
	"testing"

	"github.com/leadline/leadline/adf"
)

// Vehicles reads back what Prospect.Lead writes, and splits free text only where it is
// sure.
func TestVehicles(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []adf.Vehicle
	}{
		{"", nil},
		{"Volvo XC60", []adf.Vehicle{{Make: "Volvo", Model: "XC60"}}},
		{"volvo xc60 recharge", []adf.Vehicle{{Make: "Volvo", Model: "xc60 recharge"}}},
		{"2024 Volvo XC60 T6 (stock 123, VIN YV1UZA8V1P1234567)", []adf.Vehicle{{Year: "2024", Make: "Volvo", Model: "XC60 T6", Stock: "123", VIN: "YV1UZA8V1P1234567"}}},
		{"Mercedes-Benz C 200 (stock A-9)", []adf.Vehicle{{Make: "Mercedes-Benz", Model: "C 200", Stock: "A-9"}}},
		{"Land Rover Defender; trade-in: 2015 VW Golf", []adf.Vehicle{{Make: "Land Rover", Model: "Defender"}, {Interest: "trade-in", Year: "2015", Make: "VW", Model: "Golf"}}},
		{"sell: Škoda Octavia", []adf.Vehicle{{Interest: "sell", Make: "Škoda", Model: "Octavia"}}},
		{"red SUV under 20k", []adf.Vehicle{{Model: "red SUV under 20k"}}},
		{"mini van with 7 seats", []adf.Vehicle{{Model: "mini van with 7 seats"}}},
		{"MINI Cooper S", []adf.Vehicle{{Make: "Mini", Model: "Cooper S"}}},
		{"Volvo", []adf.Vehicle{{Make: "Volvo"}}},
		{"Volvos in stock?", []adf.Vehicle{{Model: "Volvos in stock?"}}},
		{"2023", []adf.Vehicle{{Year: "2023"}}},
		{"20234 km or less", []adf.Vehicle{{Model: "20234 km or less"}}},
	} {
		if got := adf.Vehicles(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Vehicles(%q)\n got %+v\nwant %+v", tc.in, got, tc.want)
		}
	}
}

// What Prospect.Lead makes of a prospect's vehicles, Vehicles reads back into them.
func TestVehiclesRoundTrip(t *testing.T) {
	vs := []adf.Vehicle{
		{Year: "2024", Make: "Volvo", Model: "XC60", Trim: "T6", Stock: "123", VIN: "YV1UZA8V1P1234567"},
		{Interest: "trade-in", Year: "2015", Make: "Volkswagen", Model: "Golf"},
	}
	l := adf.Prospect{Vehicles: vs, Phones: []adf.Phone{{Number: "0612345678"}}}.Lead()
	got := adf.Vehicles(l.Interest)
	want := []adf.Vehicle{
		{Year: "2024", Make: "Volvo", Model: "XC60 T6", Stock: "123", VIN: "YV1UZA8V1P1234567"}, // the trim joins the model
		{Interest: "trade-in", Year: "2015", Make: "Volkswagen", Model: "Golf"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%q read back as\n %+v\nwant %+v", l.Interest, got, want)
	}
}
