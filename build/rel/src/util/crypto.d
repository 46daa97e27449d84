build/rel/src/util/crypto.o: src/util/crypto.c src/util/crypto.h
src/util/crypto.h:
