// Engine tests: to be written
