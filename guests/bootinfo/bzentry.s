/*
 * The bzImage form of the bootinfo guest: a Linux setup header (boot protocol 2.15, 64-bit entry,
 * not relocatable, loaded at 16 MiB) and, 0x200 into the protected-mode kernel, the 64-bit entry:
 * paging on (the loader's identity map), %rsi = boot_params.
 */
	.file "bzentry.S"

	.section .bzheader, "a"
	.org 0x1f1
	.byte 1                         /* setup_sects: the boot sector and one setup sector */
	.org 0x1fe
	.word 0xaa55                    /* boot_flag */
	.byte 0xeb, 0x66                /* jump: the header ends at 0x268 */
	.ascii "HdrS"
	.word 0x020f                    /* protocol 2.15 */
	.org 0x211
	.byte 0x01                      /* loadflags: LOADED_HIGH */
	.org 0x214
	.long 0x100000                  /* code32_start */
	.org 0x22c
	.long 0x7fffffff                /* initrd_addr_max */
	.long 0x200000                  /* kernel_alignment */
	.byte 0                         /* relocatable_kernel: no, it runs where it is linked */
	.byte 0
	.word 0x3                       /* xloadflags: XLF_KERNEL_64, XLF_CAN_BE_LOADED_ABOVE_4G */
	.long 4095                      /* cmdline_size */
	.org 0x258
	.quad 0x1000000                 /* pref_address */
	.long bz_init_size              /* init_size: the image and its bss */
	.org 0x400

	.section .text.bzentry, "ax"
	.code64
	.globl bz_start
bz_start:
	hlt                             /* 32-bit entry: not offered */
	jmp bz_start
	.org 0x200
bz_start64:
	cli
	cld
	leaq bz_stack_top(%rip), %rsp
	movq %rsi, %rdi
	call bz_main
	movl %eax, %edi
	call guest_exit

	.section .bss
	.align 16
	.space 65536
bz_stack_top:
