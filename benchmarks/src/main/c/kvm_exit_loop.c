/*
 * Baseline for benchmarks/kvm-exits: the guest executes `out %al, $0xf0` N times (32-bit
 * protected mode, flat segments, as Cloister's KVM engine enters it); each is a KVM_EXIT_IO the
 * host handles and resumes. Prints nanoseconds per exit round trip.
 * Build: gcc -O2 -o kvm_exit_loop kvm_exit_loop.c ; run: kvm_exit_loop N
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

/* mov $N, %ecx; 1: out %al, $0xf0; loop 1b; hlt */
static unsigned char code[] = {0xb9, 0, 0, 0, 0, 0xe6, 0xf0, 0xe2, 0xfc, 0xf4};

static void seg(struct kvm_segment *s, int sel, int type, int code_seg) {
	memset(s, 0, sizeof *s);
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->db = 1;
	s->s = 1;
	s->g = 1;
	(void)code_seg;
}

int main(int argc, char **argv) {
	unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : 100000;
	memcpy(code + 1, &n, 4);
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) { perror("/dev/kvm"); return 2; }
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000);
	size_t mem_size = 1 << 20;
	unsigned char *mem = mmap(0, mem_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	memcpy(mem + 0x1000, code, sizeof code);
	struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = mem_size,
		.userspace_addr = (unsigned long)mem};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) { perror("KVM_SET_USER_MEMORY_REGION"); return 1; }
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(0, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	struct kvm_sregs sregs;
	ioctl(vcpu, KVM_GET_SREGS, &sregs);
	seg(&sregs.cs, 0x08, 0xb, 1);
	seg(&sregs.ds, 0x10, 0x3, 0);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	sregs.tr.selector = 0x18; sregs.tr.type = 0xb; sregs.tr.present = 1; sregs.tr.limit = 0x67;
	sregs.ldt.type = 2; sregs.ldt.present = 1; sregs.ldt.limit = 0xffff;
	sregs.cr0 = 0x11;
	ioctl(vcpu, KVM_SET_SREGS, &sregs);
	struct kvm_regs regs = {.rip = 0x1000, .rflags = 2};
	ioctl(vcpu, KVM_SET_REGS, &regs);
	unsigned long exits = 0;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) { perror("KVM_RUN"); return 1; }
		if (run->exit_reason == KVM_EXIT_IO) {
			exits++;
			continue;
		}
		if (run->exit_reason == KVM_EXIT_HLT)
			break;
		fprintf(stderr, "unexpected exit %d\n", run->exit_reason);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
	printf("%lu %.1f\n", exits, ns / exits);
	return 0;
}
