build/rel/src/util/str.o: src/util/str.c src/util/str.h
src/util/str.h:
