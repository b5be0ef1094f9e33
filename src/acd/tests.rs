// ACD tests: see below
