build/rel/src/util/regex.o: src/util/regex.c src/util/regex.h
src/util/regex.h:
