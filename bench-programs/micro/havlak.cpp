// havlak: Havlak's loop recognition on a generated control-flow graph, in C++ with the
// standard containers (vector, list, set, map), after the Emscripten suite's benchmark.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <set>
#include <vector>

extern "C" __attribute__((import_module("env"), import_name("pause"))) void pause(void);

struct Graph {
    std::vector<std::vector<int>> succ, pred;
    int add() { succ.emplace_back(); pred.emplace_back(); return (int)succ.size() - 1; }
    void edge(int a, int b) { succ[a].push_back(b); pred[b].push_back(a); }
};

// Builders from the original benchmark: diamonds, straight lines and nested loops.
static int diamond(Graph &g, int start) {
    int b1 = g.add(), b2 = g.add(), end = g.add();
    g.edge(start, b1); g.edge(start, b2); g.edge(b1, end); g.edge(b2, end);
    return end;
}
static int straight(Graph &g, int start, int n) {
    for (int i = 0; i < n; i++) { int next = g.add(); g.edge(start, next); start = next; }
    return start;
}
static int base_loop(Graph &g, int from) {
    int header = g.add();
    g.edge(from, header);
    int d1 = diamond(g, header), s1 = straight(g, d1, 4), d2 = diamond(g, s1);
    int footer = straight(g, d2, 4);
    g.edge(footer, header);  // back edge
    int exit = g.add();
    g.edge(footer, exit);
    return exit;
}

// Union-find with path compression.
struct UnionFind {
    std::vector<int> parent;
    int find(int x) { while (parent[x] != x) { parent[x] = parent[parent[x]]; x = parent[x]; } return x; }
};

// Returns the number of loops found (headers with a non-empty body), Havlak style.
static int find_loops(const Graph &g, uint64_t &digest) {
    int n = (int)g.succ.size();
    std::vector<int> number(n, -1), node(n), last(n);
    int counter = 0;
    // Iterative DFS numbering.
    std::vector<std::pair<int, size_t>> stack{{0, 0}};
    number[0] = counter; node[counter++] = 0;
    while (!stack.empty()) {
        auto &[v, i] = stack.back();
        if (i < g.succ[v].size()) {
            int w = g.succ[v][i++];
            if (number[w] < 0) { number[w] = counter; node[counter++] = w; stack.push_back({w, 0}); }
        } else {
            last[number[v]] = counter - 1;
            stack.pop_back();
        }
    }
    auto ancestor = [&](int a, int b) { return a <= b && b <= last[a]; };
    std::vector<std::set<int>> back(counter), nonback(counter);
    for (int w = 0; w < counter; w++)
        for (int v : g.pred[node[w]]) {
            int vn = number[v];
            if (vn < 0) continue;
            (ancestor(w, vn) ? back[w] : nonback[w]).insert(vn);
        }
    UnionFind uf{std::vector<int>(counter)};
    for (int i = 0; i < counter; i++) uf.parent[i] = i;
    std::map<int, int> loop_sizes;
    for (int w = counter - 1; w >= 0; w--) {
        std::list<int> worklist;
        std::set<int> body;
        for (int v : back[w]) if (v != w) { int r = uf.find(v); if (body.insert(r).second) worklist.push_back(r); }
        while (!worklist.empty()) {
            int x = worklist.front();
            worklist.pop_front();
            for (int y : nonback[x]) {
                int yr = uf.find(y);
                if (!ancestor(w, yr)) continue;  // irreducible: ignored here
                if (yr != w && body.insert(yr).second) worklist.push_back(yr);
            }
        }
        if (!body.empty() || back[w].count(w)) {
            loop_sizes[w] = (int)body.size();
            for (int x : body) uf.parent[x] = w;
        }
    }
    for (auto &[h, s] : loop_sizes) digest = digest * 1000003 + (uint64_t)(h * 31 + s);
    return (int)loop_sizes.size();
}

int main(int argc, char **argv) {
    int size = argc > 1 ? atoi(argv[1]) : 1;
    if (size == 0) return 0;
    Graph g;
    int n = g.add();
    g.edge(0, n = straight(g, n, 2));
    for (int outer = 0; outer < 10; outer++) {
        int top = g.add();
        g.edge(n, top);
        int cur = top;
        for (int inner = 0; inner < 10 * size; inner++) cur = base_loop(g, cur);
        g.edge(cur, top);  // the outer loop's back edge
        n = straight(g, cur, 1);
    }
    uint64_t digest = 0, total = 0;
    for (int rep = 0; rep < 5 * size; rep++) {
        pause();
        total += (uint64_t)find_loops(g, digest);
    }
    printf("checksum: %llu\n", (unsigned long long)(total * 1000 + digest % 1000));
    return 0;
}
