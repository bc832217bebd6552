/*
 * allreduce: MPI_Allreduce over MPI_COMM_WORLD for every datatype/operation
 * pair in CloudSkin's mpi.h. Every rank fills a vector (argv[1] elements,
 * default 1000) with small values that depend on its rank, so every
 * result is exact whatever order the reduction runs in; every rank
 * recomputes the expected result on its own and compares element by
 * element. Rank 0 prints one line per pair with a checksum (the sum of the
 * result vector), which is the same for native Open MPI and for a cell.
 *
 * Pairs the MPI standard does not define (MPI-3.1 section 5.9.2) are listed
 * as skipped: MPI_CHAR (text, not an integer type for reductions), MPI_BYTE
 * (only the bitwise operations, which mpi.h does not have), and MPI_LAND /
 * MPI_LOR on floating point. Open MPI happens to accept the first two.
 *
 * Exits 1 if any rank saw a wrong element. Build and run: examples/README.md.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

enum { OP_SUM, OP_PROD, OP_MIN, OP_MAX, OP_LAND, OP_LOR, NOPS };

static const MPI_Op ops[NOPS] = {MPI_SUM, MPI_PROD, MPI_MIN, MPI_MAX, MPI_LAND, MPI_LOR};
static const char *const op_names[NOPS] = {"MPI_SUM", "MPI_PROD", "MPI_MIN", "MPI_MAX", "MPI_LAND", "MPI_LOR"};

/* The value rank r contributes at index i for operation op. */
static long long value(int op, int r, int i)
{
	switch (op) {
	case OP_SUM:
		return (r + i) % 5;
	case OP_PROD:
		return (r + i) % 7 == 0 ? 2 : 1; /* products stay small */
	case OP_MIN:
	case OP_MAX:
		return (r * 7 + i * 3) % 11 - 5; /* negative too: huge when unsigned */
	case OP_LAND:
		return (r + i) % 7 != 0;
	default: /* OP_LOR */
		return (r + 2 * i) % 5 == 0;
	}
}

/*
 * check_T runs one Allreduce on type T and returns the number of wrong
 * elements on this rank; *checksum receives the sum of the result.
 */
#define DEFINE_CHECK(T)                                                              \
	static int check_##T(MPI_Datatype dt, int op, int count, int rank, int size, \
			     double *checksum)                                       \
	{                                                                            \
		T *in = calloc(count, sizeof(T));                                    \
		T *out = calloc(count, sizeof(T));                                   \
		if (in == NULL || out == NULL) {                                     \
			fprintf(stderr, "allreduce: out of memory\n");               \
			MPI_Abort(MPI_COMM_WORLD, 1);                                \
			return count;                                                \
		}                                                                    \
		for (int i = 0; i < count; i++)                                      \
			in[i] = (T)value(op, rank, i);                               \
		MPI_Allreduce(in, out, count, dt, ops[op], MPI_COMM_WORLD);          \
		int bad = 0;                                                         \
		double sum = 0;                                                      \
		for (int i = 0; i < count; i++) {                                    \
			T want = (T)value(op, 0, i);                                 \
			for (int r = 1; r < size; r++) {                             \
				T v = (T)value(op, r, i);                            \
				switch (op) {                                        \
				case OP_SUM: want = want + v; break;                 \
				case OP_PROD: want = want * v; break;                \
				case OP_MIN: want = v < want ? v : want; break;      \
				case OP_MAX: want = v > want ? v : want; break;      \
				case OP_LAND: want = (T)(want && v); break;          \
				case OP_LOR: want = (T)(want || v); break;           \
				}                                                    \
			}                                                            \
			if (out[i] != want)                                          \
				bad++;                                               \
			sum += (double)out[i];                                       \
		}                                                                    \
		free(in);                                                            \
		free(out);                                                           \
		*checksum = sum;                                                     \
		return bad;                                                          \
	}

typedef unsigned int uint;
typedef long long llong;

DEFINE_CHECK(int)
DEFINE_CHECK(uint)
DEFINE_CHECK(long)
DEFINE_CHECK(llong)
DEFINE_CHECK(float)
DEFINE_CHECK(double)

typedef int (*check_fn)(MPI_Datatype, int, int, int, int, double *);

static const struct {
	const char *name;
	MPI_Datatype type;
	check_fn check; /* NULL: no operation of mpi.h is defined on it */
	int arith_only; /* floating point: no logical operations */
} types[] = {
	{"MPI_CHAR", MPI_CHAR, NULL, 0},
	{"MPI_BYTE", MPI_BYTE, NULL, 0},
	{"MPI_INT", MPI_INT, check_int, 0},
	{"MPI_UNSIGNED", MPI_UNSIGNED, check_uint, 0},
	{"MPI_LONG", MPI_LONG, check_long, 0},
	{"MPI_LONG_LONG", MPI_LONG_LONG, check_llong, 0},
	{"MPI_FLOAT", MPI_FLOAT, check_float, 1},
	{"MPI_DOUBLE", MPI_DOUBLE, check_double, 1},
};

int main(int argc, char **argv)
{
	MPI_Init(&argc, &argv);
	int rank, size;
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);

	int count = 1000;
	if (argc > 1)
		count = atoi(argv[1]);
	if (count < 1) {
		if (rank == 0)
			fprintf(stderr, "usage: allreduce [count >= 1]\n");
		MPI_Finalize();
		return 2;
	}

	int ran = 0, skipped = 0, failed = 0;
	for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
		for (int op = 0; op < NOPS; op++) {
			int logical = op == OP_LAND || op == OP_LOR;
			if (types[t].check == NULL || (types[t].arith_only && logical)) {
				if (rank == 0)
					printf("allreduce: %-13s %-8s skipped: not defined by MPI\n",
					       types[t].name, op_names[op]);
				skipped++;
				continue;
			}
			double checksum;
			int bad = types[t].check(types[t].type, op, count, rank, size, &checksum);
			int allbad;
			MPI_Allreduce(&bad, &allbad, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
			if (rank == 0)
				printf("allreduce: %-13s %-8s count %d checksum %.0f %s\n", types[t].name,
				       op_names[op], count, checksum, allbad == 0 ? "ok" : "FAIL");
			ran++;
			if (allbad != 0)
				failed++;
		}
	}
	if (rank == 0)
		printf("allreduce: %d ranks, %d pairs ok, %d failed, %d skipped\n", size,
		       ran - failed, failed, skipped);
	MPI_Finalize();
	return failed == 0 ? 0 : 1;
}
