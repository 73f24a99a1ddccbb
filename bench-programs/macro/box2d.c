// Box2D v3 (from box2d_sys): a pyramid of boxes falling onto the ground, one 60 Hz step per
// outer iteration, like a game's main loop. The checksum folds every body's final position
// and angle, quantised.
#include "../micro/bench.h"
#include <box2d/box2d.h>
#include <math.h>

enum { BASE = 20 };

int main(int argc, char **argv) {
    int size = bench_size(argc, argv);
    if (size == 0) return 0;
    b2WorldDef world_def = b2DefaultWorldDef();
    world_def.gravity = (b2Vec2){0.0f, -10.0f};
    world_def.enableSleep = false; // every step simulates every body, even at rest
    b2WorldId world = b2CreateWorld(&world_def);

    b2BodyDef ground_def = b2DefaultBodyDef();
    b2BodyId ground = b2CreateBody(world, &ground_def);
    b2ShapeDef shape_def = b2DefaultShapeDef();
    b2Polygon floor = b2MakeOffsetBox(50.0f, 1.0f, (b2Vec2){0.0f, -1.0f}, b2Rot_identity);
    b2CreatePolygonShape(ground, &shape_def, &floor);

    static b2BodyId boxes[BASE * (BASE + 1) / 2];
    int count = 0;
    b2Polygon box = b2MakeBox(0.5f, 0.5f);
    for (int row = 0; row < BASE; row++)
        for (int i = 0; i < BASE - row; i++) {
            b2BodyDef def = b2DefaultBodyDef();
            def.type = b2_dynamicBody;
            def.position = (b2Vec2){(i - (BASE - row) / 2.0f) * 1.05f + row * 0.02f, 0.5f + row * 1.1f};
            boxes[count] = b2CreateBody(world, &def);
            b2CreatePolygonShape(boxes[count], &shape_def, &box);
            count++;
        }

    for (int frame = 0; frame < size * 60; frame++) {
        pause();
        b2World_Step(world, 1.0f / 60.0f, 4);
    }

    uint64_t sum = 0;
    for (int i = 0; i < count; i++) {
        b2Vec2 p = b2Body_GetPosition(boxes[i]);
        b2Rot r = b2Body_GetRotation(boxes[i]);
        sum = sum * 31 + (uint64_t)(int64_t)lrintf(p.x * 1000.0f);
        sum = sum * 31 + (uint64_t)(int64_t)lrintf(p.y * 1000.0f);
        sum = sum * 31 + (uint64_t)(int64_t)lrintf(b2Rot_GetAngle(r) * 1000.0f);
    }
    b2DestroyWorld(world);
    bench_checksum(sum);
    return 0;
}
