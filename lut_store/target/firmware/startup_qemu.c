/* Minimal start-up for the QEMU runs: vector table, .data copy, .bss clear, FPU on, C++
 * constructors, main, semihosting exit. A real board uses its vendor's start-up file instead. */
#include <stddef.h>
#include <stdint.h>

#include "board.h"

extern uint32_t __mn_stack_top;
extern uint32_t __mn_data_load, __mn_data_start, __mn_data_end, __mn_bss_start, __mn_bss_end;
extern void (*__init_array_start[])(void);
extern void (*__init_array_end[])(void);

int main(void);
void SysTick_Handler(void);
void mn_fault(const char* what);

/* With -nostartfiles: the C++ runtime's hooks that crt0/crti would have provided. */
void* __dso_handle = 0;
void _init(void) {}
void _fini(void) {}

void Reset_Handler(void) {
  uint32_t* src = &__mn_data_load;
  for (uint32_t* dst = &__mn_data_start; dst < &__mn_data_end;) *dst++ = *src++;
  for (uint32_t* dst = &__mn_bss_start; dst < &__mn_bss_end;) *dst++ = 0;
  /* CP10/CP11 full access: the code is built for the hard-float ABI. */
  *(volatile uint32_t*)0xE000ED88u |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  for (size_t i = 0; i < (size_t)(__init_array_end - __init_array_start); i++)
    __init_array_start[i]();
  mn_exit(main());
}

static void HardFault_Handler(void) { mn_fault("HardFault"); }
static void MemManage_Handler(void) { mn_fault("MemManage"); }
static void BusFault_Handler(void) { mn_fault("BusFault"); }
static void UsageFault_Handler(void) { mn_fault("UsageFault"); }
static void Default_Handler(void) { mn_fault("unexpected interrupt"); }

__attribute__((section(".mn_vectors"), used)) void (*const mn_vectors[16])(void) = {
    (void (*)(void))(&__mn_stack_top),
    Reset_Handler,
    Default_Handler,    /* NMI */
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    Default_Handler,    /* SecureFault on v8-M */
    0, 0, 0,
    Default_Handler,    /* SVC */
    Default_Handler,    /* DebugMon */
    0,
    Default_Handler,    /* PendSV */
    SysTick_Handler,
};

/* newlib's malloc (pulled in by vsnprintf on some paths) gets a small fixed heap. */
extern uint8_t __mn_heap_start, __mn_heap_end;
void* _sbrk(ptrdiff_t incr) {
  static uint8_t* brk = &__mn_heap_start;
  if (brk + incr > &__mn_heap_end || brk + incr < &__mn_heap_start) return (void*)-1;
  uint8_t* old = brk;
  brk += incr;
  return old;
}
